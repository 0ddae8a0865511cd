//! The session task's event loop and handlers (see the parent module).

use super::*;
use crate::error::DecodeError;
use crate::pdu::{Header, MessageResp};
use tokio::sync::mpsc::error::TrySendError;

impl SessionTask {
    /// Runs until the session closes, then fails what is left and reports why.
    pub(super) async fn run(mut self) {
        let mut sweep = interval(SWEEP_INTERVAL);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let period = self.timers.enquire_link_interval;
        let mut keepalive = interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let reason = loop {
            let step = tokio::select! {
                frame = self.reader.next() => self.on_read(frame),
                command = self.commands.recv(), if self.commands_open => self.on_command(command),
                _ = sweep.tick() => self.on_sweep(Instant::now()),
                _ = keepalive.tick() => self.send_enquire_link(),
                failed = &mut self.writer_failed => Err(CloseReason::ConnectionLost(match failed {
                    Ok(e) => format!("write failed: {e}"),
                    Err(_) => "writer ended".into(),
                })),
            };
            if let Err(reason) = step.and_then(|()| self.progress_unbind(Instant::now())) {
                break reason;
            }
        };
        self.close(reason).await;
    }

    fn on_read(&mut self, frame: Result<Option<Frame>, FrameError>) -> Step {
        match frame {
            Ok(Some(Frame { pdu: Ok(pdu), .. })) => self.on_pdu(pdu),
            Ok(Some(Frame { header, pdu: Err(e) })) => self.on_bad_frame(header, e),
            Ok(None) => Err(CloseReason::ConnectionLost("closed by peer".into())),
            Err(FrameError::Io(e)) => Err(CloseReason::ConnectionLost(e.to_string())),
            Err(e) => Err(CloseReason::Protocol(e.to_string())),
        }
    }

    fn on_pdu(&mut self, pdu: Pdu) -> Step {
        let Pdu { command_status: status, sequence_number: seq, body } = pdu;
        match body {
            Body::SubmitSmResp(resp) => self.resolve(seq, submit_result(status, Some(resp))),
            Body::GenericNack => self.on_generic_nack(seq, status),
            Body::EnquireLink => self.send_pdu(Pdu::new(seq, Body::EnquireLinkResp)),
            Body::EnquireLinkResp => {
                if self.enquire.is_some_and(|(s, _)| s == seq) {
                    self.enquire = None;
                }
                Ok(())
            }
            Body::Unbind => {
                info!(session = %self.label, "SMSC unbinds");
                self.send_pdu(Pdu::new(seq, Body::UnbindResp))?;
                Err(CloseReason::PeerUnbound)
            }
            Body::UnbindResp => match self.unbind {
                Some(Unbinding::AwaitingResp { sequence_number, .. }) if sequence_number == seq => {
                    Err(CloseReason::Unbound)
                }
                _ => Ok(()),
            },
            Body::DeliverSm(sm) => self.on_deliver_sm(seq, sm),
            Body::Unknown { header, .. } if header.is_response() => {
                debug!(session = %self.label, command_id = header.command_id, "ignoring unknown response");
                Ok(())
            }
            Body::Unknown { .. }
            | Body::BindTransmitter(_)
            | Body::BindReceiver(_)
            | Body::BindTransceiver(_)
            | Body::SubmitSm(_) => self.send_generic_nack(seq, CommandStatus::ESME_RINVCMDID),
            other => {
                debug!(session = %self.label, seq, ?other, "ignoring unexpected response");
                Ok(())
            }
        }
    }

    /// A frame whose body did not decode: answer requests with an error so the
    /// SMSC knows, and settle a submit whose response was garbled.
    fn on_bad_frame(&mut self, header: Header, error: DecodeError) -> Step {
        warn!(session = %self.label, command_id = header.command_id, %error, "undecodable PDU");
        let seq = header.sequence_number;
        match header.command_id {
            command_id::SUBMIT_SM_RESP => {
                let result = match header.command_status.is_ok() {
                    true => Err(SubmitError::OutcomeUnknown { reason: UnknownReason::MalformedResponse }),
                    false => submit_result(header.command_status, None),
                };
                self.resolve(seq, result)
            }
            command_id::DELIVER_SM => {
                let resp = Pdu::response(seq, error.status(), Body::DeliverSmResp(MessageResp::default()));
                self.send_pdu(resp)
            }
            _ if header.is_response() => Ok(()),
            _ => self.send_generic_nack(seq, error.status()),
        }
    }

    fn on_generic_nack(&mut self, seq: u32, status: CommandStatus) -> Step {
        if self.pending.contains_key(&seq) {
            return self.resolve(seq, submit_result(status, None));
        }
        if self.enquire.is_some_and(|(s, _)| s == seq) {
            // The SMSC is alive even if it dislikes enquire_link.
            self.enquire = None;
            return Ok(());
        }
        if matches!(self.unbind, Some(Unbinding::AwaitingResp { sequence_number, .. }) if sequence_number == seq)
        {
            return Err(CloseReason::Unbound);
        }
        warn!(session = %self.label, seq, %status, "generic_nack for no outstanding request");
        Ok(())
    }

    /// Passes a `deliver_sm` to the inbound task, or answers "try later" at once
    /// if that queue is full.
    fn on_deliver_sm(&mut self, seq: u32, deliver_sm: Box<DeliverSm>) -> Step {
        match self.deliveries.try_send(Delivery { sequence_number: seq, deliver_sm }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                warn!(session = %self.label, seq, "inbound queue full, deliver_sm refused for now");
                let resp = Pdu::response(
                    seq,
                    CommandStatus::ESME_RX_T_APPN,
                    Body::DeliverSmResp(MessageResp::default()),
                );
                self.send_pdu(resp)
            }
        }
    }

    /// Settles the submit with sequence number `seq`, if it is still outstanding.
    fn resolve(&mut self, seq: u32, result: Result<SubmitOutcome, SubmitError>) -> Step {
        match self.pending.remove(&seq) {
            Some(pending) => {
                let _ = pending.reply.send(result);
            }
            None => warn!(session = %self.label, seq, ?result, "response for no outstanding submit (late?)"),
        }
        Ok(())
    }

    fn on_command(&mut self, command: Option<Command>) -> Step {
        match command {
            Some(Command::Submit { mut frame, reply }) => {
                if self.unbind.is_some() {
                    let _ = reply.send(Err(SubmitError::NotBound));
                    return Ok(());
                }
                let seq = self.allocate_sequence();
                set_sequence_number(&mut frame, seq);
                if let Err(reason) = self.send_frame(frame) {
                    let _ = reply.send(Err(SubmitError::NotBound));
                    return Err(reason);
                }
                let deadline = Instant::now() + self.timers.response_timeout;
                self.pending.insert(seq, Pending { deadline, reply });
                Ok(())
            }
            Some(Command::Unbind) => {
                self.begin_unbind();
                Ok(())
            }
            None => {
                debug!(session = %self.label, "all handles dropped, unbinding");
                self.commands_open = false;
                self.begin_unbind();
                Ok(())
            }
        }
    }

    fn begin_unbind(&mut self) {
        if self.unbind.is_none() {
            info!(session = %self.label, outstanding = self.pending.len(), "unbinding");
            self.window.close();
            let _ = self.state.send(SessionState::Unbinding);
            self.unbind = Some(Unbinding::Draining { deadline: Instant::now() + self.timers.unbind_timeout });
        }
    }

    /// Sends `unbind` once outstanding submits are settled (or their time is up),
    /// and closes when `unbind_resp` does not come in time.
    fn progress_unbind(&mut self, now: Instant) -> Step {
        match self.unbind {
            Some(Unbinding::Draining { deadline }) if self.pending.is_empty() || now >= deadline => {
                let seq = self.allocate_sequence();
                self.send_pdu(Pdu::new(seq, Body::Unbind))?;
                let deadline = now + self.timers.unbind_timeout;
                self.unbind = Some(Unbinding::AwaitingResp { sequence_number: seq, deadline });
                Ok(())
            }
            Some(Unbinding::AwaitingResp { deadline, .. }) if now >= deadline => {
                warn!(session = %self.label, "no unbind_resp in time, closing anyway");
                Err(CloseReason::Unbound)
            }
            _ => Ok(()),
        }
    }

    /// Times out submits and the keep-alive.
    fn on_sweep(&mut self, now: Instant) -> Step {
        let expired: Vec<u32> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(s, _)| *s).collect();
        for seq in expired {
            warn!(session = %self.label, seq, "no submit_sm_resp in time: outcome unknown");
            self.resolve(seq, Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ResponseTimeout }))?;
        }
        match self.enquire {
            Some((_, deadline)) if deadline <= now => {
                warn!(session = %self.label, "no enquire_link_resp in time: link is dead");
                Err(CloseReason::EnquireLinkTimeout)
            }
            _ => Ok(()),
        }
    }

    fn send_enquire_link(&mut self) -> Step {
        if self.enquire.is_some() {
            return Ok(());
        }
        let seq = self.allocate_sequence();
        self.send_pdu(Pdu::new(seq, Body::EnquireLink))?;
        self.enquire = Some((seq, Instant::now() + self.timers.enquire_link_timeout));
        Ok(())
    }

    fn send_generic_nack(&mut self, seq: u32, status: CommandStatus) -> Step {
        self.send_pdu(Pdu::response(seq, status, Body::GenericNack))
    }

    fn send_pdu(&mut self, pdu: Pdu) -> Step {
        let frame =
            pdu.encode().map_err(|e| CloseReason::Protocol(format!("cannot encode our own PDU: {e}")))?;
        self.send_frame(frame)
    }

    /// Queues a frame for the writer without waiting: every producer is bounded,
    /// so a full queue means the socket has stalled.
    fn send_frame(&mut self, frame: Vec<u8>) -> Step {
        let Some(frames) = &self.frames else {
            return Err(CloseReason::ConnectionLost("closing".into()));
        };
        match frames.try_send(frame) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(CloseReason::WriteStalled),
            Err(TrySendError::Closed(_)) => Err(CloseReason::ConnectionLost("writer closed".into())),
        }
    }

    /// The next free sequence number, skipping any still outstanding.
    fn allocate_sequence(&mut self) -> u32 {
        loop {
            let seq = self.next_sequence;
            self.next_sequence = if seq >= MAX_SEQUENCE { 1 } else { seq + 1 };
            let in_use = self.pending.contains_key(&seq) || self.enquire.is_some_and(|(s, _)| s == seq);
            if !in_use {
                return seq;
            }
        }
    }

    /// Fails everything outstanding, flushes what can be flushed, and reports closed.
    async fn close(mut self, reason: CloseReason) {
        info!(session = %self.label, ?reason, outstanding = self.pending.len(), "session closed");
        self.window.close();
        for (_, pending) in self.pending.drain() {
            let _ = pending
                .reply
                .send(Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ConnectionLost }));
        }
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Submit { reply, .. } = command {
                let _ = reply.send(Err(SubmitError::NotBound));
            }
        }
        // deliver_sm not yet answered will be redelivered by the SMSC.
        self.inbound_task.abort();
        self.frames = None;
        if timeout(CLOSE_GRACE, &mut self.writer_task).await.is_err() {
            self.writer_task.abort();
        }
        let _ = self.state.send(SessionState::Closed(reason));
    }
}

/// Maps a `submit_sm_resp` (or `generic_nack`) to the submit's result.
fn submit_result(status: CommandStatus, resp: Option<MessageResp>) -> Result<SubmitOutcome, SubmitError> {
    match (status, resp) {
        (s, Some(resp)) if s.is_ok() => Ok(SubmitOutcome { message_id: resp.message_id }),
        (s, None) if s.is_ok() => Err(SubmitError::Rejected { status: s }),
        (s, _) if s.is_throttle() => Err(SubmitError::Throttled { status: s }),
        (s, _) => Err(SubmitError::Rejected { status: s }),
    }
}
