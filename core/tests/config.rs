//! `Config::validate` and `EndpointConfig::validate`: one meaning of zero for every adapter.

use std::time::Duration;

use jsocket_core::endpoint::{EndpointConfig, Rate};
use jsocket_core::{Config, ConfigError, Setting};

fn zero(setting: Setting) -> Result<(), ConfigError> {
    Err(ConfigError::Zero { setting })
}

#[test]
fn defaults_are_valid() {
    assert_eq!(Config::default().validate(), Ok(()));
    assert_eq!(EndpointConfig::default().validate(), Ok(()));
}

#[test]
fn off_is_none_and_zero_is_refused() {
    let off = Config::default().idle_timeout(None).frame_timeout(None);
    assert_eq!(off.validate(), Ok(()));
    assert_eq!(
        Config::default()
            .idle_timeout(Some(Duration::ZERO))
            .validate(),
        zero(Setting::IdleTimeout)
    );
    assert_eq!(
        Config::default()
            .frame_timeout(Some(Duration::ZERO))
            .validate(),
        zero(Setting::FrameTimeout)
    );
    assert_eq!(
        Config::default().max_message_size(0).validate(),
        zero(Setting::MaxMessageSize)
    );
    assert_eq!(
        Config::default().max_pending_output(0).validate(),
        zero(Setting::MaxPendingOutput)
    );
    assert_eq!(
        Config::default().close_grace(Duration::ZERO).validate(),
        zero(Setting::CloseGrace)
    );
    // A delay of zero is "at once", not a limit.
    assert_eq!(
        Config::default().release_delay(Duration::ZERO).validate(),
        Ok(())
    );
    // The smallest limits that are not zero pass.
    let tiny = Config::default()
        .idle_timeout(Some(Duration::from_nanos(1)))
        .max_message_size(1)
        .max_pending_output(1);
    assert_eq!(tiny.validate(), Ok(()));
}

#[test]
fn endpoint_limits_follow_the_same_rule() {
    let d = EndpointConfig::default;
    assert_eq!(
        d().max_connections(0).validate(),
        zero(Setting::MaxConnections)
    );
    assert_eq!(
        d().max_per_address(0).validate(),
        zero(Setting::MaxPerAddress)
    );
    assert_eq!(d().output_budget(0).validate(), zero(Setting::OutputBudget));
    assert_eq!(
        d().slow_reader_timeout(Some(Duration::ZERO)).validate(),
        zero(Setting::SlowReaderTimeout)
    );
    assert_eq!(d().slow_reader_timeout(None).validate(), Ok(()));
    assert_eq!(
        d().first_bytes_timeout(Duration::ZERO).validate(),
        zero(Setting::FirstBytesTimeout)
    );
    assert_eq!(
        d().broadcast_rate(Some(Rate::new(0, 10))).validate(),
        zero(Setting::BroadcastRate)
    );
    assert_eq!(d().broadcast_rate(None).validate(), Ok(()));
}

#[test]
fn the_error_names_the_setting_and_the_way_to_say_off() {
    let text = ConfigError::Zero {
        setting: Setting::IdleTimeout,
    }
    .to_string();
    assert!(text.contains("idle_timeout"), "{text}");
    assert!(text.contains("off"), "{text}");
}
