//! Session edge cases against an in-test SMSC that we script PDU by PDU (with
//! our own codec). The real-peer tests prove interoperability; these prove the
//! behaviour a real SMSC will not show on demand: bind refusals, silence,
//! garbage, full channels, and exact window accounting.

use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;
use varsel_smpp::frame::FrameReader;
use varsel_smpp::pdu::{BindResp, MessageResp};
use varsel_smpp::{
    BindConfig, BindStatus, BindType, Body, ClientConfig, CloseReason, CommandStatus, ConnectError,
    Delivered, InboundEvent, Pdu, Session, SessionHandle, SessionState, SmppClient, SubmitError, SubmitSm,
    UnknownReason,
};

const STEP: Duration = Duration::from_secs(5);

/// One scripted SMSC connection.
struct Smsc {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Smsc {
    async fn accept(listener: &TcpListener) -> Smsc {
        let (stream, _) = timeout(STEP, listener.accept()).await.expect("connect in time").expect("accept");
        let (rd, writer) = stream.into_split();
        Smsc { reader: FrameReader::new(rd), writer }
    }

    /// Accepts a connection and answers its bind with `status`.
    async fn accept_bind(listener: &TcpListener, status: CommandStatus) -> Smsc {
        let mut smsc = Smsc::accept(listener).await;
        let bind = smsc.recv().await;
        assert!(matches!(bind.body, Body::BindTransceiver(_) | Body::BindReceiver(_)), "{bind:?}");
        let body = Body::BindTransceiverResp(BindResp { system_id: "FAKE".into(), ..BindResp::default() });
        smsc.send(Pdu::response(bind.sequence_number, status, body)).await;
        smsc
    }

    async fn recv(&mut self) -> Pdu {
        let frame = timeout(STEP, self.reader.next()).await.expect("PDU in time").expect("readable");
        frame.expect("not closed").pdu.expect("decodable")
    }

    async fn send(&mut self, pdu: Pdu) {
        self.send_raw(&pdu.encode().expect("encodable")).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    async fn answer_submit(&mut self, seq: u32, status: CommandStatus, id: &str) {
        self.send(Pdu::response(seq, status, Body::SubmitSmResp(MessageResp { message_id: id.into() })))
            .await;
    }
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    (l, addr)
}

fn config() -> BindConfig {
    let mut c = BindConfig::new("varsel", "secret");
    c.bind_timeout = Duration::from_secs(1);
    c.response_timeout = Duration::from_secs(2);
    c.unbind_timeout = Duration::from_secs(1);
    c
}

fn message() -> SubmitSm {
    SubmitSm { destination_addr: "4790000001".into(), short_message: b"hi".to_vec(), ..SubmitSm::default() }
}

async fn connect(addr: &str, cfg: &BindConfig, l: &TcpListener) -> (SessionHandle, Smsc) {
    let (session, smsc) =
        tokio::join!(Session::connect(addr, cfg), Smsc::accept_bind(l, CommandStatus::ESME_ROK));
    (session.expect("bound").0, smsc)
}

/// Goal: a refused password is its own error, apart from other bind failures
/// and from silence. Method: answer binds with RINVPASWD, RBINDFAIL, nothing.
#[tokio::test]
async fn bind_failures_are_distinct() {
    let (l, addr) = listener().await;
    let cfg = config();
    let (r, _s) =
        tokio::join!(Session::connect(&addr, &cfg), Smsc::accept_bind(&l, CommandStatus::ESME_RINVPASWD));
    assert!(matches!(r, Err(ConnectError::BadCredentials { status: CommandStatus::ESME_RINVPASWD })));
    let (r, _s) =
        tokio::join!(Session::connect(&addr, &cfg), Smsc::accept_bind(&l, CommandStatus::ESME_RBINDFAIL));
    let err = r.expect_err("rejected");
    assert!(matches!(err, ConnectError::BindRejected { .. }) && err.is_retryable());
    let (r, _s) = tokio::join!(Session::connect(&addr, &cfg), Smsc::accept(&l));
    assert!(matches!(r, Err(ConnectError::Timeout("bind", _))));
}

/// Goal: the client reports bad credentials in health and keeps retrying at
/// the maximum backoff. Method: refuse binds; read health.
#[tokio::test]
async fn client_reports_bad_credentials() {
    let (l, addr) = listener().await;
    let mut cc = ClientConfig::new(addr, config());
    cc.reconnect_backoff_max = Duration::from_secs(3);
    let (client, _rx) = SmppClient::start(cc).expect("config");
    let _smsc = Smsc::accept_bind(&l, CommandStatus::ESME_RINVSYSID).await;
    let deadline = tokio::time::Instant::now() + STEP;
    while !matches!(client.health().binds[0].status, BindStatus::BadCredentials { .. }) {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", client.health());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.health().binds_up, 0);
    // No quick second attempt: the backoff went straight to its maximum (>= max/2 with jitter).
    assert!(timeout(Duration::from_millis(1000), l.accept()).await.is_err());
    client.shutdown().await;
}

/// Goal: we answer what the SMSC asks: enquire_link, unknown commands,
/// malformed deliver_sm, and unbind (then close). Method: script each.
#[tokio::test]
async fn answers_smsc_requests() {
    let (l, addr) = listener().await;
    let (session, mut smsc) = connect(&addr, &config(), &l).await;
    smsc.send(Pdu::new(100, Body::EnquireLink)).await;
    let r = smsc.recv().await;
    assert_eq!((r.sequence_number, r.body), (100, Body::EnquireLinkResp));

    smsc.send_raw(&[0, 0, 0, 20, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 101, 1, 2, 3, 4]).await; // data_sm
    let r = smsc.recv().await;
    assert_eq!(
        (r.sequence_number, r.command_status, r.body),
        (101, CommandStatus::ESME_RINVCMDID, Body::GenericNack)
    );

    // deliver_sm whose sm_length (10) runs past the body.
    let bad = [
        &[0, 0, 0, 37, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 102][..],
        &[0, 0, 0, b'1', 0, 0, 0, b'2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, b'A', b'B'],
    ]
    .concat();
    smsc.send_raw(&bad).await;
    let r = smsc.recv().await;
    assert_eq!((r.sequence_number, r.command_status), (102, CommandStatus::ESME_RINVMSGLEN));
    assert!(matches!(r.body, Body::DeliverSmResp(_)));

    smsc.send(Pdu::new(103, Body::Unbind)).await;
    let r = smsc.recv().await;
    assert_eq!((r.sequence_number, r.body), (103, Body::UnbindResp));
    assert_eq!(timeout(STEP, session.closed()).await, Ok(CloseReason::PeerUnbound));
    assert_eq!(session.submit(&message()).await, Err(SubmitError::NotBound));
}

/// Goal: a silent SMSC is detected by enquire_link and everything pending
/// fails as "outcome unknown". Method: never answer; short keep-alive timers.
#[tokio::test]
async fn silent_smsc_is_dead() {
    let (l, addr) = listener().await;
    let mut cfg = config();
    cfg.enquire_link_interval = Duration::from_millis(200);
    cfg.enquire_link_timeout = Duration::from_millis(300);
    cfg.response_timeout = Duration::from_secs(30);
    let (session, mut smsc) = connect(&addr, &cfg, &l).await;
    let pending = tokio::spawn({
        let session = session.clone();
        async move { session.submit(&message()).await }
    });
    assert!(matches!(smsc.recv().await.body, Body::SubmitSm(_)));
    assert!(matches!(smsc.recv().await.body, Body::EnquireLink));
    assert_eq!(timeout(STEP, session.closed()).await, Ok(CloseReason::EnquireLinkTimeout));
    let result = pending.await.expect("task");
    assert_eq!(result, Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ConnectionLost }));
}

/// Goal: no response in time means "outcome unknown", a late response is
/// ignored, and the session carries on. Method: answer the first submit late.
#[tokio::test]
async fn response_timeout_is_unknown() {
    let (l, addr) = listener().await;
    let mut cfg = config();
    cfg.response_timeout = Duration::from_millis(300);
    let (session, mut smsc) = connect(&addr, &cfg, &l).await;
    let msg = message();
    let (result, first) = tokio::join!(session.submit(&msg), smsc.recv());
    assert_eq!(result, Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ResponseTimeout }));
    assert_eq!(session.outstanding(), 0, "the window slot is given back");
    smsc.answer_submit(first.sequence_number, CommandStatus::ESME_ROK, "late").await;
    let second = tokio::spawn({
        let session = session.clone();
        async move { session.submit(&message()).await }
    });
    let pdu = smsc.recv().await;
    smsc.answer_submit(pdu.sequence_number, CommandStatus::ESME_ROK, "m2").await;
    assert_eq!(second.await.expect("task").map(|o| o.message_id), Ok("m2".to_string()));
}

/// Goal: never more submits outstanding than the window. Method: window 3,
/// 10 concurrent submits; the SMSC sees 3, nothing more until it answers one,
/// and answers them one at a time while counting.
#[tokio::test]
async fn window_bounds_outstanding() {
    let (l, addr) = listener().await;
    let mut cfg = config();
    cfg.window = 3;
    let (session, mut smsc) = connect(&addr, &cfg, &l).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.submit(&message()).await })
        })
        .collect();
    let mut unanswered = Vec::new();
    for _ in 0..3 {
        unanswered.push(smsc.recv().await.sequence_number);
    }
    assert!(timeout(Duration::from_millis(300), smsc.reader.next()).await.is_err(), "a 4th submit came");
    assert_eq!(session.outstanding(), 3);
    let mut answered = 0;
    while answered < 10 {
        let seq = unanswered.remove(0);
        smsc.answer_submit(seq, CommandStatus::ESME_ROK, &format!("id{seq}")).await;
        answered += 1;
        if answered + unanswered.len() < 10 {
            unanswered.push(smsc.recv().await.sequence_number);
        }
        assert!(unanswered.len() <= 3);
    }
    for task in tasks {
        assert!(task.await.expect("task").is_ok());
    }
}

/// Goal: submit_sm_resp and generic_nack statuses map to the right error
/// class. Method: answer three submits with THROTTLED, INVDSTADR and a nack.
#[tokio::test]
async fn response_statuses_classified() {
    let (l, addr) = listener().await;
    let (session, mut smsc) = connect(&addr, &config(), &l).await;
    let cases = [
        (CommandStatus::ESME_RTHROTTLED, false),
        (CommandStatus::ESME_RINVDSTADR, false),
        (CommandStatus::ESME_RSYSERR, true),
    ];
    let mut results = Vec::new();
    for (status, nack) in cases {
        let msg = message();
        let (result, ()) = tokio::join!(session.submit(&msg), async {
            let seq = smsc.recv().await.sequence_number;
            match nack {
                true => smsc.send(Pdu::response(seq, status, Body::GenericNack)).await,
                false => smsc.answer_submit(seq, status, "").await,
            }
        });
        results.push(result);
    }
    assert!(matches!(results[0], Err(SubmitError::Throttled { .. })));
    let Err(ref permanent) = results[1] else { panic!("rejected") };
    assert!(permanent.is_permanent() && !permanent.may_have_been_sent());
    assert_eq!(results[2], Err(SubmitError::Rejected { status: CommandStatus::ESME_RSYSERR }));
    assert!(results[2].as_ref().err().is_some_and(SubmitError::is_retryable));
}

/// Goal: a `deliver_sm` nobody settles in time (a full inbound channel, or an event waiting
/// unanswered) is answered ESME_RX_T_APPN after the bounded wait, not dropped and not
/// acknowledged. Method: channel of 1, nobody reading, two MOs.
#[tokio::test]
async fn full_inbound_channel_asks_for_redelivery() {
    let (l, addr) = listener().await;
    let mut cfg = config();
    cfg.inbound_queue = 1;
    cfg.inbound_wait = Duration::from_millis(300);
    let (connected, mut smsc) =
        tokio::join!(Session::connect(&addr, &cfg), Smsc::accept_bind(&l, CommandStatus::ESME_ROK));
    let (_session, mut inbound) = connected.expect("bound");
    smsc.send(mo(1)).await;
    smsc.send(mo(2)).await;
    let started = tokio::time::Instant::now();
    let mut answers = [smsc.recv().await, smsc.recv().await];
    answers.sort_by_key(|p| p.sequence_number);
    let statuses: Vec<_> = answers.iter().map(|p| (p.sequence_number, p.command_status)).collect();
    assert_eq!(statuses, vec![(1, CommandStatus::ESME_RX_T_APPN), (2, CommandStatus::ESME_RX_T_APPN)]);
    assert!(started.elapsed() >= Duration::from_millis(250), "waited before refusing");
    assert!(matches!(
        inbound.recv().await.map(Delivered::into_event),
        Some(InboundEvent::MobileOriginated(_))
    ));
}

fn mo(seq: u32) -> Pdu {
    let sm =
        SubmitSm { source_addr: "4790000001".into(), short_message: b"OK".to_vec(), ..SubmitSm::default() };
    Pdu::new(seq, Body::DeliverSm(Box::new(sm)))
}

/// Goal: the SMSC gets the caller's verdict on each `deliver_sm`, in whatever order the
/// caller settles them: refused ones are to be delivered again, accepted ones not.
/// Method: two MOs; the second is accepted first, the first refused after it.
#[tokio::test]
async fn deliver_sm_answers_follow_the_callers_verdict() {
    let (l, addr) = listener().await;
    let cfg = config();
    let (connected, mut smsc) =
        tokio::join!(Session::connect(&addr, &cfg), Smsc::accept_bind(&l, CommandStatus::ESME_ROK));
    let (_session, mut inbound) = connected.expect("bound");
    smsc.send(mo(1)).await;
    smsc.send(mo(2)).await;
    let first = inbound.recv().await.expect("first MO");
    let second = inbound.recv().await.expect("second MO");
    second.answer(true);
    let answer = smsc.recv().await;
    assert_eq!((answer.sequence_number, answer.command_status), (2, CommandStatus::ESME_ROK));
    first.answer(false);
    let answer = smsc.recv().await;
    assert_eq!((answer.sequence_number, answer.command_status), (1, CommandStatus::ESME_RX_T_APPN));
}

/// Goal: a dropped connection fails pending submits as unknown-outcome and
/// closes the session. Method: read a submit, then close the socket.
#[tokio::test]
async fn connection_drop_fails_pending() {
    let (l, addr) = listener().await;
    let (session, mut smsc) = connect(&addr, &config(), &l).await;
    let msg = message();
    let (result, ()) = tokio::join!(session.submit(&msg), async {
        smsc.recv().await;
        drop(smsc);
    });
    assert_eq!(result, Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ConnectionLost }));
    let reason = timeout(STEP, session.closed()).await.expect("closed");
    assert!(matches!(reason, CloseReason::ConnectionLost(_)), "{reason:?}");
    assert_eq!(session.submit(&message()).await, Err(SubmitError::NotBound));
}

/// Goal: graceful unbind lets outstanding submits finish, refuses new ones, then
/// unbinds. Method: one submit in flight, unbind, answer the submit, then the unbind.
#[tokio::test]
async fn graceful_unbind_drains() {
    let (l, addr) = listener().await;
    let (session, mut smsc) = connect(&addr, &config(), &l).await;
    let in_flight = tokio::spawn({
        let session = session.clone();
        async move { session.submit(&message()).await }
    });
    let seq = smsc.recv().await.sequence_number;
    let unbind = tokio::spawn({
        let session = session.clone();
        async move { session.unbind().await }
    });
    while session.state() == SessionState::Bound {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(session.submit(&message()).await, Err(SubmitError::NotBound));
    smsc.answer_submit(seq, CommandStatus::ESME_ROK, "done").await;
    let r = smsc.recv().await;
    assert_eq!(r.body, Body::Unbind);
    smsc.send(Pdu::new(r.sequence_number, Body::UnbindResp)).await;
    assert_eq!(in_flight.await.expect("task").map(|o| o.message_id), Ok("done".into()));
    assert_eq!(unbind.await.expect("task"), Ok(()));
    assert_eq!(session.state(), SessionState::Closed(CloseReason::Unbound));
}

/// Goal: a corrupt stream (impossible command_length) closes the session
/// instead of being guessed at. Method: send a header with length 3.
#[tokio::test]
async fn corrupt_stream_closes() {
    let (l, addr) = listener().await;
    let (session, mut smsc) = connect(&addr, &config(), &l).await;
    smsc.send_raw(&[0, 0, 0, 3, 0, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 1]).await;
    let reason = timeout(STEP, session.closed()).await.expect("closed");
    assert!(matches!(reason, CloseReason::Protocol(_)), "{reason:?}");
}

/// Goal: a receiver bind never sends submit_sm. Method: bind as receiver, submit.
#[tokio::test]
async fn receiver_cannot_submit() {
    let (l, addr) = listener().await;
    let mut cfg = config();
    cfg.bind_type = BindType::Receiver;
    let (session, _smsc) = connect(&addr, &cfg, &l).await;
    assert_eq!(session.submit(&message()).await, Err(SubmitError::NotBound));
}

/// Goal: connecting to a port with no listener fails fast and retryably.
/// Method: connect to a closed port.
#[tokio::test]
async fn refused_connection_is_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = Session::connect(&format!("127.0.0.1:{port}"), &config()).await.expect_err("refused");
    assert!(matches!(err, ConnectError::Io(_)) && err.is_retryable(), "{err:?}");
}
