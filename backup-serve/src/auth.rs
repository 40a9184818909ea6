//! Request envelopes checked as the IC checks them: the content's request
//! id, the sender derived from its key, the signature over the
//! domain-separated request id (Ed25519, ECDSA on secp256k1 or P-256), the
//! delegation chain, and the ingress expiry.

use super::state::ED25519_DER_PREFIX;
use candid::Principal;
use ic_transport_types::{Envelope, EnvelopeContent, RequestId};

/// How far ahead an ingress expiry may be: the IC's 5 minutes plus the
/// validator's permitted drift.
pub const MAX_INGRESS_TTL_NANOS: u64 = 5 * 60 * 1_000_000_000;
const PERMITTED_DRIFT_NANOS: u64 = 30 * 1_000_000_000;
const MAX_DELEGATIONS: usize = 20;
const MAX_TARGETS: usize = 1_000;

/// A request whose envelope checked out.
pub struct Verified {
    pub content: EnvelopeContent,
    pub id: RequestId,
    /// Delegations limit the request to these canisters, if any does.
    pub targets: Option<Vec<Principal>>,
    /// A delegation of the chain allows only queries and `read_state`.
    pub queries_only: bool,
}

/// Parses a CBOR request body into an envelope.
pub fn parse(body: &[u8]) -> Result<Envelope<'static>, String> {
    serde_cbor::from_slice::<Envelope<'static>>(body)
        .map_err(|error| format!("Could not parse body as read request: {error}"))
}

/// Checks an envelope at time `now` (nanoseconds since 1970).
pub fn verify(envelope: Envelope<'_>, now: u64) -> Result<Verified, String> {
    let content = envelope.content.into_owned();
    let id = content.to_request_id();
    check_expiry(content.ingress_expiry(), now)?;
    let sender = *content.sender();
    let mut targets: Option<Vec<Principal>> = None;
    let mut queries_only = false;
    if sender == Principal::anonymous() {
        if envelope.sender_pubkey.is_some()
            || envelope.sender_sig.is_some()
            || envelope.sender_delegation.is_some()
        {
            return Err(format!(
                "Invalid signature: request {id} from the anonymous principal carries a key, a signature or a delegation"
            ));
        }
    } else {
        let (Some(pubkey), Some(signature)) = (&envelope.sender_pubkey, &envelope.sender_sig)
        else {
            return Err(format!(
                "Invalid signature: request {id} from {sender} is missing its sender_pubkey or sender_sig"
            ));
        };
        let derived = Principal::self_authenticating(pubkey);
        if derived != sender {
            return Err(format!(
                "Invalid signature: the sender {sender} is not the principal of the public key, {derived}"
            ));
        }
        let delegations = envelope.sender_delegation.unwrap_or_default();
        if delegations.len() > MAX_DELEGATIONS {
            return Err(format!(
                "Invalid delegation: expected at most {MAX_DELEGATIONS} delegations, found {}",
                delegations.len()
            ));
        }
        let mut key = pubkey.clone();
        let mut seen = vec![key.clone()];
        for (index, signed) in delegations.iter().enumerate() {
            let delegation = &signed.delegation;
            verify_signature(&key, &delegation.signable(), &signed.signature).map_err(|error| {
                format!("Invalid delegation: delegation {index}'s signature: {error}")
            })?;
            if delegation.expiration < now {
                return Err(format!(
                    "Invalid delegation expiry: delegation {index} expired at {} (now {now})",
                    delegation.expiration
                ));
            }
            if let Some(these) = &delegation.targets {
                if these.len() > MAX_TARGETS {
                    return Err(format!(
                        "Invalid delegation: expected at most {MAX_TARGETS} targets in delegation {index}, found {}",
                        these.len()
                    ));
                }
                targets = Some(match targets {
                    None => these.clone(),
                    Some(old) => old.into_iter().filter(|t| these.contains(t)).collect(),
                });
            }
            if delegation.permissions == Some(ic_transport_types::DelegationPermissions::Queries) {
                queries_only = true;
            }
            if seen.contains(&delegation.pubkey) {
                return Err(format!(
                    "Invalid delegation: delegation {index} repeats a key of the chain"
                ));
            }
            key = delegation.pubkey.clone();
            seen.push(key.clone());
        }
        verify_signature(&key, &id.signable(), signature)
            .map_err(|error| format!("Invalid signature: request {id}: {error}"))?;
    }
    Ok(Verified {
        content,
        id,
        targets,
        queries_only,
    })
}

fn check_expiry(expiry: u64, now: u64) -> Result<(), String> {
    let max = now + MAX_INGRESS_TTL_NANOS + PERMITTED_DRIFT_NANOS;
    if expiry < now || expiry > max {
        return Err(format!(
            "Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: {}, Maximum allowed expiry: {}, Provided expiry: {}",
            rfc3339(now),
            rfc3339(max),
            rfc3339(expiry)
        ));
    }
    Ok(())
}

/// Checks `signature` over `message` by the DER public key `key`.
fn verify_signature(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), String> {
    if let Some(raw) = key.strip_prefix(&ED25519_DER_PREFIX[..]) {
        let key = ed25519_consensus::VerificationKey::try_from(raw)
            .map_err(|error| format!("malformed Ed25519 public key: {error}"))?;
        let signature = ed25519_consensus::Signature::try_from(signature)
            .map_err(|error| format!("malformed Ed25519 signature: {error}"))?;
        return key
            .verify(&signature, message)
            .map_err(|_| "the Ed25519 signature does not verify".to_string());
    }
    use p256::pkcs8::DecodePublicKey;
    if let Ok(key) = k256::ecdsa::VerifyingKey::from_public_key_der(key) {
        use k256::ecdsa::signature::Verifier;
        let signature = k256::ecdsa::Signature::from_slice(signature)
            .map_err(|error| format!("malformed secp256k1 signature: {error}"))?;
        return key
            .verify(message, &signature)
            .map_err(|_| "the ECDSA secp256k1 signature does not verify".to_string());
    }
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(key) {
        use p256::ecdsa::signature::Verifier;
        let signature = p256::ecdsa::Signature::from_slice(signature)
            .map_err(|error| format!("malformed P-256 signature: {error}"))?;
        return key
            .verify(message, &signature)
            .map_err(|_| "the ECDSA P-256 signature does not verify".to_string());
    }
    Err(format!(
        "unsupported public key (expected Ed25519, secp256k1 or P-256 in DER; canister signatures and WebAuthn keys are not served): {}",
        hex::encode(&key[..key.len().min(40)])
    ))
}

/// A time as RFC 3339, UTC, to the nanosecond.
pub fn rfc3339(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        nanos % 1_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed call, and every one-byte change of it: parsed and verified
    /// without a panic, and only the original verifies.
    #[test]
    fn no_mutation_of_an_envelope_panics_or_verifies() {
        let key = ed25519_consensus::SigningKey::from([1u8; 32]);
        let der = [&ED25519_DER_PREFIX[..], key.verification_key().as_bytes()].concat();
        let now = 1_800_000_000_000_000_000;
        let content = EnvelopeContent::Call {
            nonce: None,
            ingress_expiry: now + 60_000_000_000,
            sender: Principal::self_authenticating(&der),
            canister_id: Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
            method_name: "m".into(),
            arg: vec![1, 2, 3],
            sender_info: None,
        };
        let signature = key
            .sign(&content.to_request_id().signable())
            .to_bytes()
            .to_vec();
        let bytes = Envelope {
            content: std::borrow::Cow::Owned(content),
            sender_pubkey: Some(der),
            sender_sig: Some(signature),
            sender_delegation: None,
        }
        .encode_bytes();
        let original = verify(parse(&bytes).unwrap(), now).unwrap().id;
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut mutated = bytes.clone();
                mutated[at] ^= flip;
                if let Ok(Ok(passed)) = parse(&mutated).map(|envelope| verify(envelope, now)) {
                    // Only a change outside the content (the CBOR tag) can pass.
                    assert_eq!(passed.id, original, "byte {at} ^ {flip:#x} verified");
                }
            }
        }
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]).map(|envelope| verify(envelope, now));
        }
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_796_212_800_000_000_001),
            "2026-12-02T12:00:00.000000001Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
