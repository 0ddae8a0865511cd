// An example service worker for a web app whose users receive Varsel's Web Push alerts.
//
// Varsel's push payload is JSON: {"title", "body", "alert", "key"}, and for an alert with
// answer options also "answer_url" (this recipient's response link) and "actions"
// ([{"action": "answer-1", "title": "Trygg"}, ...], labels in the recipient's language).
// A button posts its option to the response link, exactly as the response page's own form
// does; a tap on the notification itself opens the response page, which shows every option
// (browsers show at most Notification.maxActions buttons, often 2).
//
// Register it from the app with navigator.serviceWorker.register('/push-service-worker.js')
// and subscribe with Varsel's VAPID public key as applicationServerKey.

self.addEventListener('push', (event) => {
  const m = event.data ? event.data.json() : {};
  const options = {
    body: m.body || '',
    tag: m.key,
    requireInteraction: true,
    data: { answerUrl: m.answer_url || null },
  };
  if (Array.isArray(m.actions)) {
    const max = (self.Notification && self.Notification.maxActions) || 2;
    options.actions = m.actions.slice(0, max);
  }
  event.waitUntil(self.registration.showNotification(m.title || 'Varsel', options));
});

self.addEventListener('notificationclick', (event) => {
  const url = event.notification.data && event.notification.data.answerUrl;
  event.notification.close();
  if (!url) {
    return;
  }
  const chosen = /^answer-([1-9])$/.exec(event.action || '');
  if (!chosen) {
    event.waitUntil(self.clients.openWindow(url));
    return;
  }
  // A form post needs no CORS preflight; the answer is opaque to us, so on any network
  // failure the page is opened instead and the person can answer there.
  const body = new URLSearchParams({ option: chosen[1] });
  event.waitUntil(
    fetch(url, { method: 'POST', mode: 'no-cors', body }).catch(() => self.clients.openWindow(url)),
  );
});
