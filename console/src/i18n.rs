//! The console's languages: Norwegian bokmål and English, every string of every page in one
//! table per language (side by side below, so a string cannot be missing from one of them:
//! the compiler refuses a row without both).
//!
//! The language is chosen per user: the `varsel_lang` cookie set by the language links on
//! every page, else the browser's `Accept-Language`, else English.

/// The cookie that keeps the chosen language (not a secret: readable by scripts is harmless).
pub const LANG_COOKIE: &str = "varsel_lang";

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Norwegian bokmål.
    Nb,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the language links show them.
    pub const ALL: [Lang; 2] = [Lang::Nb, Lang::En];

    /// The BCP 47 tag (the `lang` attribute).
    pub const fn tag(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::En => "en",
        }
    }

    /// The language's own name.
    pub const fn name(self) -> &'static str {
        match self {
            Lang::Nb => "Norsk (bokmål)",
            Lang::En => "English",
        }
    }

    /// The language a tag names (`nb`, `no`, `nn` read as bokmål; `en-GB` as English).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "nb" | "no" | "nn" => Some(Lang::Nb),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header (RFC 9110 section 12.5.4): the
    /// highest `q` among those we have; English when none.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else { continue };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The strings of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Nb => &NB,
            Lang::En => &EN,
        }
    }
}

macro_rules! texts {
    ($($key:ident: $en:expr, $nb:expr;)*) => {
        /// Every string of the console, in one language.
        #[derive(Debug)]
        pub struct Text { $(pub $key: &'static str,)* }
        /// English.
        pub static EN: Text = Text { $($key: $en,)* };
        /// Norwegian bokmål.
        pub static NB: Text = Text { $($key: $nb,)* };
        /// Every string as (key, English, bokmål), for checks.
        pub static ROWS: &[(&str, &str, &str)] = &[$((stringify!($key), $en, $nb),)*];
    };
}

texts! {
    skip_to_content: "Skip to content", "Gå til innholdet";
    nav_label: "Main", "Hovedmeny";
    language_label: "Language", "Språk";
    nav_alerts: "Alerts", "Varsler";
    nav_send: "Send an alert", "Send varsel";
    nav_contacts: "Contacts and groups", "Kontakter og grupper";
    nav_audit: "Audit trail", "Revisjonslogg";
    nav_health: "Cluster health", "Klyngehelse";
    logout: "Log out", "Logg ut";
    role_viewer: "viewer", "leser";
    role_operator: "operator", "operatør";
    role_admin: "administrator", "administrator";
    role_superadmin: "superadministrator", "superadministrator";
    yes: "yes", "ja";
    no: "no", "nei";
    next_page: "Next page", "Neste side";
    search: "Search", "Søk";
    save: "Save", "Lagre";
    error_title: "Something went wrong", "Noe gikk galt";
    back_to_console: "Back to the alerts", "Tilbake til varslene";
    back_to_contacts: "Back to contacts", "Tilbake til kontaktene";
    err_csrf: "The form was too old or not from this console (missing or wrong security token). Reload the page and try again.", "Skjemaet var for gammelt eller ikke fra denne konsollen (manglende eller feil sikkerhetsnøkkel). Last siden på nytt og prøv igjen.";
    err_cross_site: "Refused: the request came from another site.", "Avvist: forespørselen kom fra et annet nettsted.";
    err_role: "Your role may view but not change anything (send, cancel, edit or import).", "Rollen din kan se, men ikke endre noe (sende, avbryte, redigere eller importere).";
    err_invalid: "Not accepted:", "Ikke godtatt:";
    err_forbidden: "Not allowed:", "Ikke tillatt:";
    err_not_found: "Not found:", "Finnes ikke:";
    err_conflict: "Conflict:", "Konflikt:";
    err_limit: "Limit reached:", "Grense nådd:";
    err_unavailable: "The cluster cannot answer right now (retry in a moment):", "Klyngen kan ikke svare akkurat nå (prøv igjen om litt):";
    login_title: "Log in", "Logg inn";
    login_help: "Log in with the token of a credential of your organisation. The token stays on this node; your browser gets a session cookie. A session belongs to this node: if this site is lost, log in on another site.", "Logg inn med nøkkelen (token) til en legitimasjon i organisasjonen din. Nøkkelen blir på denne noden; nettleseren får en øktkapsel. En økt hører til denne noden: mistes stedet, logg inn på et annet sted.";
    login_token: "Token", "Nøkkel (token)";
    login_token_hint: "As shown when the credential was created (varsel credential create).", "Slik den ble vist da legitimasjonen ble laget (varsel credential create).";
    login_token_length: "give a token of 1 to 512 characters", "oppgi en nøkkel på 1 til 512 tegn";
    login_submit: "Log in", "Logg inn";
    alerts_title: "Alerts", "Varsler";
    alerts_caption: "Alerts, newest first", "Varsler, nyeste først";
    alerts_none: "No alerts yet.", "Ingen varsler ennå.";
    alert_id: "No.", "Nr.";
    alert_title: "Title", "Tittel";
    alert_status: "Status", "Status";
    alert_created: "Created", "Opprettet";
    alert_send_at: "Sends at", "Sendes";
    alert_recipients: "Recipients", "Mottakere";
    alert_acknowledged: "Acknowledged", "Bekreftet";
    alert_progress: "Progress", "Fremdrift";
    alert_per_channel: "Messages per channel", "Meldinger per kanal";
    alert_cancel: "Cancel the alert", "Avbryt varselet";
    alert_texts: "Texts", "Tekster";
    live_updated: "Last update", "Sist oppdatert";
    live_reconnecting: "Connection lost; reconnecting to this node…", "Forbindelsen brutt; kobler til denne noden igjen …";
    channel: "Channel", "Kanal";
    channel_sms: "SMS", "SMS";
    channel_voice: "Voice", "Tale";
    channel_email: "E-mail", "E-post";
    channel_push: "Push", "Push";
    count_queued: "queued", "i kø";
    count_sent: "sent", "sendt";
    count_delivered: "delivered", "levert";
    count_failed: "failed", "feilet";
    count_expired: "expired", "utløpt";
    count_skipped: "skipped", "hoppet over";
    status_scheduled: "scheduled", "planlagt";
    status_active: "sending", "sendes";
    status_completed: "completed", "fullført";
    status_cancelled: "cancelled", "avbrutt";
    status_expired: "expired", "utløpt";
    status_held: "held (resume or cancel)", "holdt tilbake (gjenoppta eller avbryt)";
    replies_title: "Replies", "Svar";
    replies_none: "No replies yet.", "Ingen svar ennå.";
    reply_at: "Received", "Mottatt";
    reply_from: "From", "Fra";
    reply_text: "Text", "Tekst";
    reply_acknowledges: "Acknowledges", "Bekrefter";
    send_title: "Send an alert", "Send varsel";
    send_basics: "The alert", "Varselet";
    priority: "Priority", "Prioritet";
    priority_routine: "Routine", "Rutine";
    priority_urgent: "Urgent", "Haster";
    priority_crisis: "Crisis", "Krise";
    send_in_minutes: "Send in (minutes)", "Send om (minutter)";
    send_in_minutes_hint: "Empty or 0: now.", "Tomt eller 0: nå.";
    send_targets: "Recipients", "Mottakere";
    groups_none: "There are no groups yet.", "Det finnes ingen grupper ennå.";
    area_polygons: "Area polygons", "Områder (polygoner)";
    area_polygons_hint: "One per line, CAP syntax: \"lat,lon lat,lon …\" (WGS 84), closed: the first point repeated last.", "Ett per linje, CAP-syntaks: «lat,lon lat,lon …» (WGS 84), lukket: første punkt gjentatt til slutt.";
    area_circles: "Area circles", "Områder (sirkler)";
    area_circles_hint: "One per line, CAP syntax: \"lat,lon radius_km\".", "Én per linje, CAP-syntaks: «lat,lon radius_km».";
    within_groups: "Only members of these groups in the areas", "Bare medlemmer av disse gruppene i områdene";
    within_groups_hint: "Group names, separated by commas; empty: everyone in the areas.", "Gruppenavn, skilt med komma; tomt: alle i områdene.";
    send_steps: "Channels and escalation", "Kanaler og opptrapping";
    send_steps_hint: "Step 1 goes out at the start; a later step goes to those who have not acknowledged by then.", "Trinn 1 sendes ved start; et senere trinn går til dem som ikke har bekreftet innen da.";
    step: "Step", "Trinn";
    step_after_seconds: "Seconds after the start", "Sekunder etter start";
    default_language: "Default language", "Standardspråk";
    answers_field: "Answer options, one per line (numbered in order; 2 to 9)", "Svaralternativer, ett per linje (nummerert i rekkefølge; 2 til 9)";
    answers_ack_field: "Answers that acknowledge (their numbers, e.g. 1)", "Svar som bekrefter (nummeret, f.eks. 1)";
    answers_hint: "Put {{answer_link}} in a text to give each person a link to the answer page. Replies by SMS (the number or the answer) and voice keypad count too.", "Sett inn {{answer_link}} i en tekst for å gi hver person en lenke til svarsiden. Svar på SMS (nummeret eller svaret) og tastetrykk i taleanrop teller også.";
    answers_title: "Answers to the question", "Svar på spørsmålet";
    answer_number: "No.", "Nr.";
    answer_label: "Answer", "Svaralternativ";
    answer_chosen_by: "Chosen by", "Valgt av";
    answer_acknowledges: "Acknowledges", "Bekrefter";
    text_sms: "SMS text", "SMS-tekst";
    text_email_subject: "E-mail subject", "E-postemne";
    text_email_body: "E-mail text", "E-posttekst";
    text_voice: "Voice script", "Taleskript";
    text_push_title: "Push title", "Push-tittel";
    text_push_body: "Push text", "Push-tekst";
    sms_encoding: "Encoding", "Koding";
    sms_segments: "segment(s)", "segment(er)";
    sms_units_left: "left in the last segment", "igjen i siste segment";
    sms_ucs2_because: "UCS-2 because of", "UCS-2 på grunn av";
    send_review: "Review before sending", "Se over før sending";
    confirm_title: "Confirm the alert", "Bekreft varselet";
    confirm_people: "People reached", "Personer som nås";
    confirm_messages: "Messages at most (SMS counted in segments)", "Meldinger høyst (SMS regnet i segmenter)";
    confirm_caption: "Who can be reached on each channel", "Hvem som kan nås på hver kanal";
    confirm_reachable: "Reachable", "Kan nås";
    confirm_used: "Used by the alert", "Brukes av varselet";
    confirm_in_areas: "Of them inside the areas", "Av dem innenfor områdene";
    confirm_sms_segments: "SMS segments per message", "SMS-segmenter per melding";
    confirm_hint: "Counted now; who is reached is fixed when the alert is accepted. Sending twice (a double click) sends once.", "Telt nå; hvem som nås låses når varselet godtas. Å sende to ganger (dobbeltklikk) sender én gang.";
    confirm_send: "Send now", "Send nå";
    confirm_edit: "Back to edit", "Tilbake og endre";
    contacts_title: "Contacts and groups", "Kontakter og grupper";
    contacts_list: "Contacts", "Kontakter";
    contacts_search: "Search contacts", "Søk i kontakter";
    contacts_search_hint: "Part of an external id, name, phone number or e-mail address.", "Del av ekstern id, navn, telefonnummer eller e-postadresse.";
    contacts_search_truncated: "Only the first matches are shown; narrow the search.", "Bare de første treffene vises; snevre inn søket.";
    contacts_none: "No contacts found.", "Fant ingen kontakter.";
    contact_title: "Contact", "Kontakt";
    contact_external_id: "External id", "Ekstern id";
    contact_name: "Name", "Navn";
    contact_phone: "Phone (E.164, e.g. +4791234567)", "Telefon (E.164, f.eks. +4791234567)";
    contact_email: "E-mail", "E-post";
    contact_language: "Language (e.g. nb, en)", "Språk (f.eks. nb, en)";
    contact_groups: "Groups", "Grupper";
    contact_groups_hint: "Group names, separated by commas.", "Gruppenavn, skilt med komma.";
    groups_title: "Groups", "Grupper";
    group_name: "Group", "Gruppe";
    group_members: "Members", "Medlemmer";
    import_title: "Import contacts from CSV", "Importer kontakter fra CSV";
    import_hint: "Columns: external_id, name, phone, email, language, groups (separated by ;). Good rows are imported; each rejected row is listed with its reasons.", "Kolonner: external_id, name, phone, email, language, groups (skilt med ;). Gode rader importeres; hver avvist rad vises med grunnene.";
    import_file: "CSV file", "CSV-fil";
    import_submit: "Import", "Importer";
    import_no_file: "choose a CSV file to upload", "velg en CSV-fil å laste opp";
    import_report: "Import report", "Importrapport";
    import_rows: "Rows", "Rader";
    import_created: "Created", "Opprettet";
    import_updated: "Updated", "Oppdatert";
    import_rejected: "Rejected", "Avvist";
    import_rejected_caption: "Rejected rows and why", "Avviste rader og hvorfor";
    import_line: "Line", "Linje";
    import_errors: "Why", "Hvorfor";
    audit_title: "Audit trail", "Revisjonslogg";
    audit_none: "No records.", "Ingen oppføringer.";
    audit_at: "Time", "Tid";
    audit_credential: "Credential", "Legitimasjon";
    audit_action: "Action", "Handling";
    audit_target: "Target", "Mål";
    audit_detail: "Detail", "Detaljer";
    health_title: "Cluster health", "Klyngehelse";
    health_hint: "As this node sees it. Replication lag is known only to the leader; open this page on the leader's site to see it.", "Slik denne noden ser det. Replikeringsetterslep kjenner bare lederen; åpne siden på lederens sted for å se det.";
    health_node: "Node", "Node";
    health_site: "Site", "Sted";
    health_address: "API address", "API-adresse";
    health_voter: "Voter", "Stemmer";
    health_role: "Role", "Rolle";
    health_leader: "Leader", "Leder";
    health_no_leader: "none known", "ingen kjent";
    health_is_leader: "leader", "leder";
    health_term: "Term", "Periode (term)";
    health_ready: "Ready for traffic", "Klar for trafikk";
    health_applied: "Applied / last log index", "Anvendt / siste loggindeks";
    health_clock_offset: "Clock minus the log's clock", "Klokke minus loggens klokke";
    health_clock_skew: "Clock minus the cluster's median", "Klokke minus klyngens median";
    health_clock_bad: "out of bounds", "utenfor grensen";
    health_unknown: "unknown", "ukjent";
    health_disk: "Free disk", "Ledig disk";
    health_disk_full: "full: writes refused", "full: skriving avvist";
    health_members: "Members", "Medlemmer";
    health_lag: "Lag (entries)", "Etterslep (oppføringer)";
    health_shards_held: "Shards held (sending leases)", "Skiver holdt (sendeleier)";
    health_providers: "Provider circuits on this node", "Leverandørkretser på denne noden";
    health_provider: "Provider", "Leverandør";
    health_circuit: "Circuit", "Krets";
    health_no_providers: "No provider has sent from this node yet.", "Ingen leverandør har sendt fra denne noden ennå.";
    circuit_closed: "closed (working)", "lukket (virker)";
    circuit_half_open: "half-open (trying)", "halvåpen (prøver)";
    circuit_open: "open (failing; next provider used)", "åpen (feiler; neste leverandør brukes)";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the language follows the browser's preference unless the user chose one.
    #[test]
    fn language_choice() {
        assert_eq!(Lang::from_accept_language("nb-NO,nb;q=0.9,en;q=0.8"), Lang::Nb);
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9,nb;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("de-DE,no;q=0.7"), Lang::Nb);
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("nb;q=0, en;q=0.1"), Lang::En);

        let mut h = http::HeaderMap::new();
        h.insert(http::header::ACCEPT_LANGUAGE, http::HeaderValue::from_static("en"));
        assert_eq!(crate::session::language(&h), Lang::En);
        h.insert(http::header::COOKIE, http::HeaderValue::from_static("a=b; varsel_lang=nb"));
        assert_eq!(crate::session::language(&h), Lang::Nb, "the chosen language wins");
    }

    /// Goal: no string is left empty or untranslated by mistake. Method: every English string
    /// differs from its bokmål one unless it is a name or a word both languages share.
    #[test]
    fn tables_are_filled() {
        let same = ["SMS", "Push", "Status", "administrator", "superadministrator", "Node"];
        for (key, en, nb) in ROWS {
            assert!(!en.is_empty() && !nb.is_empty(), "{key} is empty");
            assert!(en != nb || same.contains(en), "{key} is untranslated: {en}");
        }
    }
}
