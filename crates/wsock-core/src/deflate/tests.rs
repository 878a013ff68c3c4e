//! Negotiation tests (RFC 7692 §7.1), both roles.

use alloc::string::ToString;
use alloc::vec::Vec;

use super::negotiate::{accepted, answer, offer};
use super::*;
use crate::config::DeflateConfig;
use crate::handshake::ExtensionOffer;

fn list(value: &str) -> Vec<ExtensionOffer> {
    ExtensionOffer::parse_list(value).unwrap()
}

/// The server's answer to `offers` under `config`, as header text.
fn answer_text(
    config: &DeflateConfig,
    offers: &str,
) -> Option<(DeflateParams, alloc::string::String)> {
    answer(config, &list(offers)).map(|(p, a)| (p, a.to_string()))
}

fn params(snct: bool, cnct: bool, smwb: u8, cmwb: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: smwb,
        client_max_window_bits: cmwb,
    }
}

#[test]
fn rfc7692_7_1_client_offers() {
    let mut config = DeflateConfig::default();
    assert_eq!(
        offer(&config).to_string(),
        "permessage-deflate; client_max_window_bits"
    );
    config.server_no_context_takeover = true;
    config.client_no_context_takeover = true;
    config.server_max_window_bits = 10;
    config.client_max_window_bits = 9;
    assert_eq!(
        offer(&config).to_string(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=9"
    );
}

/// A server that answers as the RFC's examples do: no cap of its own on
/// the windows (`answer_*_window_bits` 15).
fn uncapped() -> DeflateConfig {
    let mut config = DeflateConfig::default();
    config.answer_server_window_bits = 15;
    config.answer_client_window_bits = 15;
    config
}

#[test]
fn rfc7692_7_1_server_accepts_every_parameter() {
    let config = uncapped();
    // A browser's offer.
    assert_eq!(
        answer_text(&config, "permessage-deflate; client_max_window_bits"),
        Some((params(false, false, 15, 15), "permessage-deflate".into()))
    );
    assert_eq!(
        answer_text(&config, "permessage-deflate"),
        Some((DeflateParams::default(), "permessage-deflate".into()))
    );
    assert_eq!(
        answer_text(
            &config,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        ),
        Some((
            params(true, true, 10, 12),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
                .into()
        ))
    );
    // Quoted values (RFC 6455 §9.1) and any case for names.
    assert_eq!(
        answer_text(&config, "Permessage-Deflate; Server_Max_Window_Bits=\"9\"")
            .unwrap()
            .0,
        params(false, false, 9, 15)
    );
}

#[test]
fn rfc7692_7_1_server_policy_caps_memory() {
    let mut config = DeflateConfig::default();
    config.server_no_context_takeover = true;
    config.client_no_context_takeover = true;
    config.server_max_window_bits = 10;
    config.client_max_window_bits = 11;
    // Limits it may impose are imposed; server_max_window_bits was not
    // offered, and is announced all the same (§7.1.2.1 "MAY include").
    assert_eq!(
        answer_text(&config, "permessage-deflate; client_max_window_bits"),
        Some((
            params(true, true, 10, 11),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
                .into()
        ))
    );
    // The client's smaller limits win.
    assert_eq!(
        answer_text(
            &config,
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8"
        )
        .unwrap()
        .0,
        params(true, true, 9, 8)
    );
    // The client cannot be limited if it did not offer client_max_window_bits.
    assert_eq!(
        answer_text(&config, "permessage-deflate").unwrap().0,
        params(true, true, 10, 15)
    );
    config.enabled = false;
    assert_eq!(answer_text(&config, "permessage-deflate"), None);
}

#[test]
fn rfc7692_7_1_server_declines_invalid_offers_and_takes_the_next() {
    let config = uncapped();
    for bad in [
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=x",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=+9",
        "permessage-deflate; client_max_window_bits=ten",
        "permessage-deflate; unknown_param",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(answer_text(&config, bad), None, "{bad}");
        let two = alloc::format!("{bad}, permessage-deflate; server_max_window_bits=12");
        assert_eq!(
            answer_text(&config, &two),
            Some((
                params(false, false, 12, 15),
                "permessage-deflate; server_max_window_bits=12".into()
            )),
            "{two}"
        );
    }
    // Of several valid offers, the first wins.
    assert_eq!(
        answer_text(
            &config,
            "permessage-deflate; client_max_window_bits=10, permessage-deflate"
        )
        .unwrap()
        .0,
        params(false, false, 15, 10)
    );
}

#[test]
fn rfc7692_7_1_2_window_bits_8_is_accepted() {
    // zlib cannot deflate with 8 bits; the server accepts and sends
    // uncompressed (see codec), which any limit allows.
    let config = uncapped();
    assert_eq!(
        answer_text(&config, "permessage-deflate; server_max_window_bits=8"),
        Some((
            params(false, false, 8, 15),
            "permessage-deflate; server_max_window_bits=8".into()
        ))
    );
}

#[test]
fn rfc7692_7_1_client_checks_the_answer() {
    let config = DeflateConfig::default();
    let ok = |answer: &str| accepted(&config, &list(answer));
    assert_eq!(ok(""), Ok(None));
    assert_eq!(ok("x-other"), Ok(None));
    assert_eq!(ok("permessage-deflate"), Ok(Some(DeflateParams::default())));
    assert_eq!(
        ok(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
            client_max_window_bits=9"
        ),
        Ok(Some(params(true, true, 15, 9)))
    );
    for bad in [
        // Twice.
        "permessage-deflate, permessage-deflate",
        // A value is required in an answer (§7.1.2.2).
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; mystery",
    ] {
        assert!(ok(bad).is_err(), "{bad}");
    }

    let mut config = DeflateConfig::default();
    config.server_no_context_takeover = true;
    config.server_max_window_bits = 10;
    config.client_max_window_bits = 12;
    let ok = |answer: &str| accepted(&config, &list(answer));
    assert_eq!(
        ok("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
        Ok(Some(params(true, false, 9, 15)))
    );
    for bad in [
        // What was asked for must be granted.
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover",
        // Never above the offer.
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
         client_max_window_bits=13",
    ] {
        assert!(ok(bad).is_err(), "{bad}");
    }
}

#[test]
fn rfc7692_7_1_2_1_server_may_limit_its_window_unasked() {
    // "A server MAY include the "server_max_window_bits" extension
    // parameter in an extension negotiation response even if the extension
    // negotiation offer being accepted by the response didn't include" it.
    // Python's websockets (13 to 17 at least) answers our default offer so.
    let config = DeflateConfig::default();
    assert_eq!(
        offer(&config).to_string(),
        "permessage-deflate; client_max_window_bits"
    );
    let ok = |answer: &str| accepted(&config, &list(answer));
    assert_eq!(
        ok("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        Ok(Some(params(false, false, 12, 12)))
    );
    assert_eq!(
        ok("permessage-deflate; server_max_window_bits=8"),
        Ok(Some(params(false, false, 8, 15)))
    );
    // Still a well-formed value.
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
    ] {
        assert!(ok(bad).is_err(), "{bad}");
    }
}

/// The default server answers (`answer_server_window_bits` 14,
/// `answer_client_window_bits` 11): both windows as small as each offer
/// lets the server make them (§7.1.2.1: it may always announce its own;
/// §7.1.2.2: it may set the client's only when offered).
#[test]
fn rfc7692_7_1_2_default_answer_limits_both_windows() {
    let config = DeflateConfig::default();
    let table: &[(&str, DeflateParams, &str)] = &[
        // Chromium's and Python websockets' default offer.
        (
            "permessage-deflate; client_max_window_bits",
            params(false, false, 14, 11),
            "permessage-deflate; server_max_window_bits=14; client_max_window_bits=11",
        ),
        // Without the parameter the client's window stays at 15.
        (
            "permessage-deflate",
            params(false, false, 14, 15),
            "permessage-deflate; server_max_window_bits=14",
        ),
        // A client offering smaller windows keeps them.
        (
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
            params(false, false, 9, 10),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
        ),
        // Larger ones are lowered to the server's caps.
        (
            "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15",
            params(false, false, 14, 11),
            "permessage-deflate; server_max_window_bits=14; client_max_window_bits=11",
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             client_max_window_bits",
            params(true, true, 14, 11),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=14; client_max_window_bits=11",
        ),
    ];
    for (offers, expected, text) in table {
        assert_eq!(
            answer_text(&config, offers),
            Some((*expected, (*text).into())),
            "{offers}"
        );
    }
    // Caps at 8 (zlib cannot compress with it): the server sends
    // uncompressed and the client may compress with 8 bits.
    let mut small = DeflateConfig::default();
    small.answer_server_window_bits = 8;
    small.answer_client_window_bits = 8;
    assert_eq!(
        answer_text(&small, "permessage-deflate; client_max_window_bits"),
        Some((
            params(false, false, 8, 8),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8".into()
        ))
    );
    // 15 answers as before the caps existed.
    assert_eq!(
        answer_text(&uncapped(), "permessage-deflate; client_max_window_bits"),
        Some((params(false, false, 15, 15), "permessage-deflate".into()))
    );
}

/// The caps are the server's alone: a client's offer does not change with
/// them, and a client accepts the answer they lead to.
#[test]
fn rfc7692_7_1_answer_caps_leave_the_client_offer_alone() {
    let mut config = DeflateConfig::default();
    for (server, client) in [(8, 8), (14, 11), (15, 15), (9, 15)] {
        config.answer_server_window_bits = server;
        config.answer_client_window_bits = client;
        let offer = offer(&config);
        assert_eq!(
            offer.to_string(),
            "permessage-deflate; client_max_window_bits"
        );
        let (params, answer) = answer(&config, &[offer]).unwrap();
        assert_eq!(
            accepted(&config, &[answer]),
            Ok(Some(params)),
            "{server} {client}"
        );
    }
}
