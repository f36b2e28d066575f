//! One bridged client from its first byte to the end: the handshake, the target, the two
//! pumps between them, and how each way of ending closes the client.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::websocket::CloseCode;
use jsocket_core::Closed;
use smol::future::FutureExt;
use smol::{Async, LocalExecutor, Timer};

use super::handshake;
use super::pump::{self, End};
use super::{BridgeConfig, BridgeStatsHandle};
use crate::clock::Clock;

enum Side {
    Up(End),
    Down(End),
    /// Nothing crossed either way for the idle timeout.
    Idle,
}

/// Serves one client from its first byte to the end. The two directions run as tasks of their
/// own on `ex`, so that each is polled only when its own source wakes it.
pub(crate) async fn serve(
    ex: &Weak<LocalExecutor<'static>>,
    tcp: Async<TcpStream>,
    peer: SocketAddr,
    config: &Arc<BridgeConfig>,
    stats: &BridgeStatsHandle,
) {
    let counters = &stats.0;
    let Some(ws) = handshake::accept(tcp, peer, config, stats).await else {
        return;
    };
    let grace = config.core.get_close_grace();
    let target = match handshake::connect(&config.target, config.handshake_timeout).await {
        Ok(target) => target,
        Err(e) => {
            log::debug!("bridge: {peer}: target {} unreachable: {e}", config.target);
            counters.target_unreachable.fetch_add(1, Relaxed);
            ws.close_with(CloseCode::TryAgain);
            let _ = ws.flush().or(timeout(grace)).await;
            return;
        }
    };
    counters.bridged.fetch_add(1, Relaxed);
    log::debug!("bridge: {peer} -> {}", config.target);

    // How the client is closed when the target ends: a clean close unless the client was
    // caught sending a malformed frame.
    let close_code = Rc::new(Cell::new(CloseCode::Normal));
    let clock = Clock::new();
    // When a byte last crossed either way, for the idle timeout.
    let active = Rc::new(Cell::new(clock.now()));
    let ws = Rc::new(ws);
    let target = Rc::new(target);
    let Some(ex) = ex.upgrade() else {
        return;
    };
    let mut up = ex.spawn(pump::up(
        ws.clone(),
        target.clone(),
        config.clone(),
        stats.clone(),
        (clock, active.clone()),
    ));
    let mut down = ex.spawn(pump::down(
        ws.clone(),
        target.clone(),
        config.clone(),
        stats.clone(),
        close_code.clone(),
        (clock, active.clone()),
    ));
    drop(ex);
    let first = async { Side::Up((&mut up).await) }
        .or(async { Side::Down((&mut down).await) })
        .or(idle(clock, &active, config.core.get_idle_timeout()))
        .await;
    match first {
        Side::Up(End::Eof) => {
            // The client is done sending; the target may still answer.
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let _ = async {
                (&mut down).await;
                Ok(())
            }
            .or(timeout(grace))
            .await;
        }
        Side::Down(End::Eof) => {
            // The target closed; pump_down has started the closing handshake.
            let _ = async {
                (&mut up).await;
                Ok(())
            }
            .or(timeout(grace))
            .await;
        }
        Side::Up(End::Malformed(e)) => {
            counters.malformed_from_client.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer} dropped: malformed frame: {e}");
            // The frames before the bad one did reach the target: let its replies come back,
            // then close the client with the binding's code for its error.
            let code = CloseCode::for_error(&e);
            close_code.set(code);
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let ended = async {
                (&mut down).await;
                Ok(())
            }
            .or(timeout(grace))
            .await;
            if ended.is_err() {
                ws.close_with(code);
                let _ = ws.flush().or(timeout(grace)).await;
            }
        }
        Side::Down(End::Malformed(e)) => {
            counters.malformed_from_target.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer}: target sent a malformed frame: {e}");
            ws.close_with(CloseCode::UpstreamError);
            let _ = ws.flush().or(timeout(grace)).await;
        }
        Side::Idle => {
            counters.timed_out.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer} dropped: idle");
            ws.close_with(CloseCode::for_closed(&Closed::Idle));
            let _ = ws.flush().or(timeout(grace)).await;
        }
        Side::Up(End::TimedOut(e)) | Side::Down(End::TimedOut(e)) => {
            counters.timed_out.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer} dropped: {e}");
            ws.close_with(CloseCode::for_error(&e));
            let _ = ws.flush().or(timeout(grace)).await;
        }
        Side::Up(End::Failed(e)) | Side::Down(End::Failed(e)) => {
            log::debug!("bridge: {peer}: {e}");
            ws.close_with(CloseCode::GoingAway);
            let _ = ws.flush().or(timeout(grace)).await;
        }
    }
    log::debug!("bridge: {peer} gone");
}

/// Ends once nothing has crossed either way for `limit` (the core config's idle timeout; never
/// without one).
async fn idle(clock: Clock, active: &Cell<Duration>, limit: Option<Duration>) -> Side {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    loop {
        let at = active.get() + limit;
        if clock.now() >= at {
            return Side::Idle;
        }
        Timer::at(clock.instant(at)).await;
    }
}

/// Ends after the core's grace for a step of a close ([`Config::close_grace`]): how long the
/// second direction, or a close frame, may take once the first direction has ended.
///
/// [`Config::close_grace`]: jsocket_core::Config::close_grace
async fn timeout(grace: Duration) -> io::Result<()> {
    Timer::after(grace).await;
    Err(io::ErrorKind::TimedOut.into())
}
