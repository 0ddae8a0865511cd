//! One ESME session: a TCP connection bound to an SMSC.
//!
//! [`Session::connect`] opens the connection, binds, and spawns three tasks:
//!
//! ```text
//!   SessionHandle ──commands──▶ session task ──frames──▶ writer task ──▶ TCP
//!        ▲  (window semaphore)     │   ▲                    ▲
//!        └──── oneshot replies ────┘   └── FrameReader ◀────┼───────── TCP
//!                                  │                        │
//!                                  └─deliveries─▶ inbound task ─▶ InboundEvent channel
//! ```
//!
//! * The **session task** owns all protocol state: sequence numbers, the map of
//!   outstanding requests and their deadlines, keep-alive and unbind. It never
//!   blocks on anything but its own `select!`, so a slow consumer or a slow
//!   socket cannot stop it from answering `enquire_link` or timing out requests.
//! * The **writer task** batches queued frames into one write and flush.
//! * The **inbound task** hands each `deliver_sm` to the caller's channel and
//!   only then writes `deliver_sm_resp` (OK, or `ESME_RX_T_APPN` so the SMSC
//!   redelivers later if the channel stays full or is closed). Receipts are
//!   therefore never acknowledged before someone has them.
//!
//! The window is a semaphore of [`BindConfig::window`] permits held by each
//! `submit` until its response, timeout or the session's end; so the number of
//! outstanding `submit_sm` never exceeds the window.

use crate::config::{BindConfig, BindType};
use crate::error::{ConnectError, SessionError, SubmitError, UnknownReason};
use crate::frame::{Frame, FrameError, FrameReader};
use crate::pdu::{
    Bind, Body, DeliverSm, DeliverSmResp, INTERFACE_VERSION, Pdu, SubmitSm, command_id, encode_submit_sm,
    set_sequence_number,
};
use crate::receipt::{Inbound, MobileOriginated, Receipt, ReceiptError, classify_deliver_sm};
use crate::status::CommandStatus;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval, interval_at, timeout};
use tracing::{debug, info, warn};

/// Frames the writer queue holds beyond the window and the inbound queue:
/// `enquire_link(_resp)`, `unbind(_resp)` and `generic_nack`. Every producer is
/// otherwise bounded (submits by the window, `deliver_sm_resp` by
/// [`INBOUND_PENDING_MAX`]), so a full writer queue means the socket has
/// stalled and the session is closed rather than buffering without end.
pub const WRITE_QUEUE_SLACK: usize = 64;
/// `deliver_sm` PDUs waiting for the inbound task. Beyond this the SMSC is
/// sending faster than its own window should allow, and we answer
/// `ESME_RX_T_APPN` at once.
pub const INBOUND_PENDING_MAX: usize = 256;
/// Resolution of all session deadlines (response, keep-alive, unbind).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Time given to the writer to flush its last frames when the session closes.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Buffer of the writer task; one flush usually carries a whole burst.
pub const WRITE_BUFFER_LEN: usize = 64 * 1024;
/// Largest sequence number (§5.1.4: 0x00000001–0x7FFFFFFF); then we wrap to 1.
pub const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;
/// Sequence number of the bind request.
const BIND_SEQUENCE: u32 = 1;

/// The SMSC accepted a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The SMSC's id for the message; receipts refer to it.
    pub message_id: String,
}

/// Where a session is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Bound and taking submits.
    Bound,
    /// `unbind` requested: no new submits, waiting for outstanding ones.
    Unbinding,
    /// Closed, for the given reason. Final.
    Closed(CloseReason),
}

/// Why a session closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// We unbound (on request, or because every handle was dropped).
    Unbound,
    /// The SMSC sent `unbind`.
    PeerUnbound,
    /// The TCP connection failed or was closed.
    ConnectionLost(String),
    /// No `enquire_link_resp` within the timeout: the link is dead.
    EnquireLinkTimeout,
    /// The stream became unreadable (impossible length, truncated PDU).
    Protocol(String),
    /// Frames could not be written as fast as they were produced.
    WriteStalled,
}

/// What the SMSC sent us in a `deliver_sm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundEvent {
    /// A delivery receipt or notification.
    Receipt(Receipt),
    /// A mobile-originated message.
    MobileOriginated(MobileOriginated),
    /// A `deliver_sm` that could not be classified. It was acknowledged anyway:
    /// redelivery would not make it parseable.
    Unparsed {
        /// The PDU as received.
        deliver_sm: Box<DeliverSm>,
        /// Why it was not understood.
        reason: ReceiptError,
    },
}

impl InboundEvent {
    /// Classifies a `deliver_sm` (see [`classify_deliver_sm`]).
    pub fn from_deliver_sm(sm: Box<DeliverSm>) -> InboundEvent {
        match classify_deliver_sm(&sm) {
            Ok(Inbound::Receipt(r)) => InboundEvent::Receipt(r),
            Ok(Inbound::MobileOriginated(mo)) => InboundEvent::MobileOriginated(mo),
            Err(reason) => InboundEvent::Unparsed { deliver_sm: sm, reason },
        }
    }
}

/// A `deliver_sm` handed to the caller: what it said, and the answer the SMSC gets.
///
/// Call [`Delivered::answer`] once its effect is safe: `true` answers `ESME_ROK`, `false`
/// answers `ESME_RX_T_APPN` so the SMSC delivers it again later. Dropped unanswered, it is
/// accepted (`ESME_ROK`), so callers that only read events need do nothing. With no answer
/// within `inbound_wait` the SMSC is asked to deliver it again. Answers may come in any order;
/// at most [`INBOUND_PENDING_MAX`] per session wait for one.
#[derive(Debug)]
pub struct Delivered {
    /// What the SMSC sent.
    pub event: InboundEvent,
    answer: Option<oneshot::Sender<bool>>,
}

impl Delivered {
    /// Answers the SMSC: accepted (`true`) or deliver again later (`false`).
    pub fn answer(mut self, accepted: bool) {
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(accepted);
        }
    }

    /// The event, accepting the `deliver_sm`.
    pub fn into_event(self) -> InboundEvent {
        self.event.clone()
    }
}

impl Drop for Delivered {
    fn drop(&mut self) {
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(true);
        }
    }
}

/// Opens sessions. See the module documentation.
#[derive(Debug)]
pub struct Session;

impl Session {
    /// Connects to `addr` (`host:port`), binds, and returns a handle and the
    /// channel of inbound events (capacity [`BindConfig::inbound_queue`]).
    pub async fn connect(
        addr: &str,
        config: &BindConfig,
    ) -> Result<(SessionHandle, mpsc::Receiver<Delivered>), ConnectError> {
        let (tx, rx) = mpsc::channel(config.inbound_queue.max(1));
        Ok((Session::connect_with_sender(addr, config, tx).await?, rx))
    }

    /// As [`Session::connect`], delivering inbound events into an existing
    /// channel (several sessions can share one).
    pub async fn connect_with_sender(
        addr: &str,
        config: &BindConfig,
        inbound: mpsc::Sender<Delivered>,
    ) -> Result<SessionHandle, ConnectError> {
        config.validate()?;
        let label = format!("{}@{addr}", config.system_id);
        let (reader, writer) = open_and_bind(addr, config).await?;
        info!(session = %label, bind_type = ?config.bind_type, window = config.window, "bound");
        Ok(spawn_session(reader, writer, config, inbound, label))
    }
}

/// Connects and performs the bind handshake.
async fn open_and_bind(
    addr: &str,
    config: &BindConfig,
) -> Result<(FrameReader<OwnedReadHalf>, OwnedWriteHalf), ConnectError> {
    let stream = timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout("connect", config.connect_timeout))??;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd);
    let bind = bind_pdu(config).encode().map_err(|e| ConnectError::Config(e.to_string()))?;
    let handshake = async {
        wr.write_all(&bind).await?;
        await_bind_resp(&mut reader).await
    };
    timeout(config.bind_timeout, handshake)
        .await
        .map_err(|_| ConnectError::Timeout("bind", config.bind_timeout))??;
    Ok((reader, wr))
}

fn bind_pdu(config: &BindConfig) -> Pdu {
    let bind = Bind {
        system_id: config.system_id.clone(),
        password: config.password.expose().to_string(),
        system_type: config.system_type.clone(),
        interface_version: INTERFACE_VERSION,
        addr_ton: config.addr_ton,
        addr_npi: config.addr_npi,
        address_range: config.address_range.clone(),
    };
    let body = match config.bind_type {
        BindType::Transmitter => Body::BindTransmitter(bind),
        BindType::Receiver => Body::BindReceiver(bind),
        BindType::Transceiver => Body::BindTransceiver(bind),
    };
    Pdu::new(BIND_SEQUENCE, body)
}

/// Reads until the response to our bind. Anything else the SMSC sends first is
/// dropped (it should send nothing; the caller's timeout bounds the wait).
async fn await_bind_resp(reader: &mut FrameReader<OwnedReadHalf>) -> Result<(), ConnectError> {
    loop {
        let frame = reader.next().await.map_err(|e| ConnectError::Protocol(e.to_string()))?;
        let Some(Frame { header, pdu }) = frame else {
            return Err(ConnectError::Protocol("connection closed before bind response".into()));
        };
        if header.sequence_number != BIND_SEQUENCE {
            debug!(command_id = header.command_id, "ignoring PDU received before bind response");
            continue;
        }
        let status = header.command_status;
        let body = pdu.map_err(|e| ConnectError::Protocol(format!("undecodable bind response: {e}")))?.body;
        let accepted = match body {
            Body::BindTransceiverResp(_) | Body::BindTransmitterResp(_) | Body::BindReceiverResp(_) => {
                status.is_ok()
            }
            Body::GenericNack => false,
            _ => continue,
        };
        return match (accepted, status.is_credentials()) {
            (true, _) => Ok(()),
            (false, true) => Err(ConnectError::BadCredentials { status }),
            (false, false) => Err(ConnectError::BindRejected { status }),
        };
    }
}

/// A request from a handle to the session task.
#[derive(Debug)]
enum Command {
    /// Send an encoded `submit_sm` (sequence number still 0) and reply with its outcome.
    Submit { frame: Vec<u8>, reply: oneshot::Sender<Result<SubmitOutcome, SubmitError>> },
    /// Stop taking submits, let outstanding ones finish, unbind, close.
    Unbind,
}

/// A handle to a bound session. Cheap to clone; the session unbinds when the
/// last handle is dropped.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    commands: mpsc::Sender<Command>,
    window: Arc<Semaphore>,
    window_size: usize,
    state: watch::Receiver<SessionState>,
    bind_type: BindType,
    response_timeout: Duration,
    window_wait: Duration,
    unbind_timeout: Duration,
    label: String,
}

/// Slack added to the caller's own wait for a reply, over the session's response
/// timeout, so the session (which knows whether the PDU was written) answers first.
const REPLY_GRACE: Duration = Duration::from_secs(1);

impl SessionHandle {
    /// Submits one message and waits for the SMSC's answer.
    ///
    /// Waits up to [`BindConfig::window_wait`] for a window slot. The outcome is
    /// `Ok` with the SMSC message id, or a [`SubmitError`] that says whether the
    /// message may have been sent.
    pub async fn submit(&self, sm: &SubmitSm) -> Result<SubmitOutcome, SubmitError> {
        if self.shared.bind_type == BindType::Receiver {
            return Err(SubmitError::NotBound);
        }
        let frame = encode_submit_sm(sm)?;
        let _permit = self.acquire_slot().await?;
        let (reply, rx) = oneshot::channel();
        self.shared
            .commands
            .send(Command::Submit { frame, reply })
            .await
            .map_err(|_| SubmitError::NotBound)?;
        match timeout(self.shared.response_timeout + REPLY_GRACE, rx).await {
            Ok(Ok(outcome)) => outcome,
            // The session ended before taking the command: never written.
            Ok(Err(_)) => Err(SubmitError::NotBound),
            Err(_) => Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ResponseTimeout }),
        }
    }

    async fn acquire_slot(&self) -> Result<OwnedSemaphorePermit, SubmitError> {
        let acquire = self.shared.window.clone().acquire_owned();
        match timeout(self.shared.window_wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(SubmitError::NotBound),
            Err(_) => Err(SubmitError::WindowTimeout(self.shared.window_wait)),
        }
    }

    /// Unbinds gracefully: new submits fail with `NotBound`, outstanding ones get
    /// up to [`BindConfig::unbind_timeout`] to finish, then `unbind` is sent and
    /// the connection closed. Returns when the session is closed.
    pub async fn unbind(&self) -> Result<(), SessionError> {
        if matches!(self.state(), SessionState::Closed(_)) {
            return Err(SessionError::Closed);
        }
        // A send error means the session task already ended; wait for its state.
        let _ = self.shared.commands.send(Command::Unbind).await;
        let wait = self.shared.unbind_timeout * 2 + CLOSE_GRACE + SWEEP_INTERVAL;
        timeout(wait, self.closed()).await.map(|_| ()).map_err(|_| SessionError::Timeout("unbind"))
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.shared.state.borrow().clone()
    }

    /// `true` while the session takes submits.
    pub fn is_bound(&self) -> bool {
        matches!(*self.shared.state.borrow(), SessionState::Bound)
    }

    /// Resolves when the session has closed, with the reason.
    pub async fn closed(&self) -> CloseReason {
        let mut state = self.shared.state.clone();
        loop {
            if let SessionState::Closed(reason) = &*state.borrow_and_update() {
                return reason.clone();
            }
            if state.changed().await.is_err() {
                return CloseReason::ConnectionLost("session task ended".into());
            }
        }
    }

    /// Submits currently holding a window slot.
    pub fn outstanding(&self) -> usize {
        self.shared.window_size.saturating_sub(self.shared.window.available_permits())
    }

    /// The window size of this bind.
    pub fn window(&self) -> usize {
        self.shared.window_size
    }

    /// `system_id@addr`, for logs.
    pub fn label(&self) -> &str {
        &self.shared.label
    }
}

/// A `deliver_sm` on its way to the inbound task.
#[derive(Debug)]
struct Delivery {
    sequence_number: u32,
    deliver_sm: Box<DeliverSm>,
}

/// Starts the writer, inbound and session tasks; returns the handle.
fn spawn_session(
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    config: &BindConfig,
    inbound: mpsc::Sender<Delivered>,
    label: String,
) -> SessionHandle {
    let (frames_tx, frames_rx) = mpsc::channel(config.window + INBOUND_PENDING_MAX + WRITE_QUEUE_SLACK);
    let (writer_failed_tx, writer_failed) = oneshot::channel();
    let writer_task = tokio::spawn(write_loop(writer, frames_rx, writer_failed_tx));
    let (deliveries_tx, deliveries_rx) = mpsc::channel(INBOUND_PENDING_MAX);
    let inbound_task =
        tokio::spawn(inbound_loop(deliveries_rx, inbound, frames_tx.clone(), config.inbound_wait));
    let (commands_tx, commands) = mpsc::channel(config.window + 4);
    let (state_tx, state_rx) = watch::channel(SessionState::Bound);
    let window = Arc::new(Semaphore::new(config.window));
    let task = SessionTask {
        reader,
        frames: Some(frames_tx),
        writer_failed,
        writer_task,
        deliveries: deliveries_tx,
        inbound_task,
        commands,
        commands_open: true,
        pending: HashMap::new(),
        next_sequence: BIND_SEQUENCE + 1,
        enquire: None,
        unbind: None,
        state: state_tx,
        window: window.clone(),
        timers: Timers::from(config),
        label: label.clone(),
    };
    tokio::spawn(task.run());
    SessionHandle {
        shared: Arc::new(Shared {
            commands: commands_tx,
            window,
            window_size: config.window,
            state: state_rx,
            bind_type: config.bind_type,
            response_timeout: config.response_timeout,
            window_wait: config.window_wait,
            unbind_timeout: config.unbind_timeout,
            label,
        }),
    }
}

/// Writes queued frames, batching whatever is queued into one flush.
async fn write_loop(
    half: OwnedWriteHalf,
    mut frames: mpsc::Receiver<Vec<u8>>,
    failed: oneshot::Sender<std::io::Error>,
) {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_LEN, half);
    let result = async {
        while let Some(frame) = frames.recv().await {
            out.write_all(&frame).await?;
            // Bounded by the queue capacity.
            while let Ok(frame) = frames.try_recv() {
                out.write_all(&frame).await?;
            }
            out.flush().await?;
        }
        out.shutdown().await
    }
    .await;
    if let Err(e) = result {
        let _ = failed.send(e);
    }
}

/// Hands each `deliver_sm` to the caller's channel, then answers it with the caller's answer
/// (see [`Delivered`]), without holding up the next one: at most [`INBOUND_PENDING_MAX`] wait
/// for their answer at once.
async fn inbound_loop(
    mut deliveries: mpsc::Receiver<Delivery>,
    events: mpsc::Sender<Delivered>,
    frames: mpsc::Sender<Vec<u8>>,
    wait: Duration,
) {
    let waiting = Arc::new(Semaphore::new(INBOUND_PENDING_MAX));
    while let Some(Delivery { sequence_number, deliver_sm }) = deliveries.recv().await {
        let Ok(permit) = waiting.clone().acquire_owned().await else { return };
        let (tx, rx) = oneshot::channel();
        let delivered = Delivered { event: InboundEvent::from_deliver_sm(deliver_sm), answer: Some(tx) };
        let frames = frames.clone();
        let handed = match timeout(wait, events.send(delivered)).await {
            Ok(Ok(())) => Some(rx),
            Ok(Err(_closed)) => None,
            Err(_full) => {
                warn!(sequence_number, "inbound channel full, asking the SMSC to redeliver later");
                None
            }
        };
        tokio::spawn(async move {
            let accepted = match handed {
                Some(rx) => match timeout(wait, rx).await {
                    Ok(Ok(accepted)) => accepted,
                    Ok(Err(_dropped)) => true,
                    Err(_late) => {
                        warn!(
                            sequence_number,
                            "deliver_sm not settled in time, asking the SMSC to redeliver later"
                        );
                        false
                    }
                },
                None => false,
            };
            let status = if accepted { CommandStatus::ESME_ROK } else { CommandStatus::ESME_RX_T_APPN };
            if let Ok(resp) = deliver_sm_resp(sequence_number, status) {
                let _ = frames.send(resp).await;
            }
            drop(permit);
        });
    }
}

fn deliver_sm_resp(sequence_number: u32, status: CommandStatus) -> Result<Vec<u8>, crate::EncodeError> {
    Pdu::response(sequence_number, status, Body::DeliverSmResp(DeliverSmResp::default())).encode()
}

/// The session's timers, copied from the configuration.
#[derive(Clone, Copy, Debug)]
struct Timers {
    response_timeout: Duration,
    enquire_link_interval: Duration,
    enquire_link_timeout: Duration,
    unbind_timeout: Duration,
}

impl From<&BindConfig> for Timers {
    fn from(c: &BindConfig) -> Self {
        Timers {
            response_timeout: c.response_timeout,
            enquire_link_interval: c.enquire_link_interval,
            enquire_link_timeout: c.enquire_link_timeout,
            unbind_timeout: c.unbind_timeout,
        }
    }
}

/// An outstanding `submit_sm`.
#[derive(Debug)]
struct Pending {
    deadline: Instant,
    reply: oneshot::Sender<Result<SubmitOutcome, SubmitError>>,
}

/// Progress of a graceful unbind.
#[derive(Clone, Copy, Debug)]
enum Unbinding {
    /// Waiting for outstanding submits until the deadline.
    Draining { deadline: Instant },
    /// `unbind` sent; waiting for `unbind_resp`.
    AwaitingResp { sequence_number: u32, deadline: Instant },
}

/// What a handler decides: carry on, or close for a reason.
type Step = Result<(), CloseReason>;

/// The state owned by the session task.
#[derive(Debug)]
struct SessionTask {
    reader: FrameReader<OwnedReadHalf>,
    /// `None` once closing, so the writer can finish.
    frames: Option<mpsc::Sender<Vec<u8>>>,
    writer_failed: oneshot::Receiver<std::io::Error>,
    writer_task: JoinHandle<()>,
    deliveries: mpsc::Sender<Delivery>,
    inbound_task: JoinHandle<()>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    /// Outstanding submits by sequence number; at most the window.
    pending: HashMap<u32, Pending>,
    next_sequence: u32,
    /// Our outstanding `enquire_link`: sequence number and deadline.
    enquire: Option<(u32, Instant)>,
    unbind: Option<Unbinding>,
    state: watch::Sender<SessionState>,
    window: Arc<Semaphore>,
    timers: Timers,
    label: String,
}

#[path = "session_task.rs"]
mod task;
