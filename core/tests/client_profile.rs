//! The client profiles: the values their table promises, each valid as the adapters check it.

use std::time::Duration;

use jsocket_core::{Backoff, ClientProfile, Config};

#[test]
fn a_program_reads_with_its_own_timeout_and_tries_ten_times() {
    let program = ClientProfile::program();
    assert_eq!(program.connection, Config::default().frame_timeout(None));
    assert_eq!(program.backoff, Backoff::default().max_retries(Some(9)));
    assert_eq!(program.connect_timeout, Some(Duration::from_secs(5)));
    assert!(!program.reconnect);
    assert_eq!(program.connection.validate(), Ok(()));
    assert_eq!(program.backoff.validate(), Ok(()));
}

#[test]
fn a_page_keeps_the_frame_timeout_and_reconnects_only_when_asked() {
    let page = ClientProfile::page();
    assert_eq!(page.connection, Config::default());
    assert_eq!(
        page.connection.get_frame_timeout(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(page.backoff, Backoff::default());
    assert_eq!(page.backoff.get_max_retries(), None);
    assert_eq!(page.connect_timeout, None);
    assert!(!page.reconnect);
    assert_eq!(page.connection.validate(), Ok(()));
    assert_eq!(page.backoff.validate(), Ok(()));
}
