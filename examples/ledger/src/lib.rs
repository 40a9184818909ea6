//! A small ledger: accounts keyed by number, a transfer log, documents keyed
//! by name, owners keyed by principal, and a cache that is rebuilt rather
//! than backed up. The canister owns its `MemoryManager` (as many real
//! canisters do) and hands its memories to the derive with `memory = ...`.

use backup_runtime::prelude::*;
use serde_bytes::ByteBuf;

thread_local! {
    // Built over `backup_runtime::stable_memory()`, so that a native build
    // can open an image of this canister with `Ledger::open_image`.
    static MEMORY_MANAGER: RefCell<MemoryManager<DefaultMemoryImpl>> =
        RefCell::new(MemoryManager::init(backup_runtime::stable_memory()));
}

/// Hands out the canister's virtual memories.
pub fn memory(id: MemoryId) -> Memory {
    MEMORY_MANAGER.with(|manager| manager.borrow().get(id))
}

/// What kind of account, with data only some kinds carry.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub enum AccountKind {
    Checking,
    Savings { rate_basis_points: u16 },
    Frozen { reason: String },
}

/// Spending limits, nested in an account.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Limits {
    pub daily: u64,
    pub monthly: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Account {
    pub owner: Principal,
    pub balance: u64,
    pub kind: AccountKind,
    pub limits: Option<Limits>,
    pub memo: Option<ByteBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub enum TransferStatus {
    Settled,
    Refused { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Transfer {
    pub from: u64,
    pub to: u64,
    pub amount: u64,
    pub at_nanos: u64,
    pub status: TransferStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Document {
    pub mime: String,
    pub content: ByteBuf,
}

/// `Storable` through Candid, for each value type.
macro_rules! candid_storable {
    ($($ty:ty),*) => {$(
        impl Storable for $ty {
            fn to_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(candid::encode_one(self).expect("a ledger value always encodes"))
            }

            fn into_bytes(self) -> Vec<u8> {
                candid::encode_one(&self).expect("a ledger value always encodes")
            }

            fn from_bytes(bytes: Cow<[u8]>) -> Self {
                candid::decode_one(&bytes).expect("stable memory holds a valid ledger value")
            }

            const BOUND: Bound = Bound::Unbounded;
        }
    )*};
}

candid_storable!(Account, Transfer, Document);

#[derive(Backupable)]
#[backup(memory = memory, auth_memory_id = 200)]
struct Ledger {
    /// Accounts by number.
    #[backup(memory_id = 1)]
    accounts: StableBTreeMap<u64, Account, Memory>,
    /// Every transfer, by id; endpoints are `backup_transfers` and so on.
    #[backup(memory_id = 2, rename = "transfers")]
    transfer_log: StableBTreeMap<u64, Transfer, Memory>,
    /// Documents by name; the key travels as Candid `text` of its own.
    #[backup(memory_id = 3)]
    documents: StableBTreeMap<String, Document, Memory>,
    /// The account number of each owner; keys travel as principals.
    #[backup(memory_id = 4)]
    owners: StableBTreeMap<Principal, u64, Memory>,
    /// A nickname per account number; the number travels as decimal text,
    /// and only its canonical text (`7`, never `007`) is accepted.
    #[backup(memory_id = 6, key = text)]
    nicknames: StableBTreeMap<u64, String, Memory>,
    /// Balances per owner, recomputed from `accounts`: not worth a backup.
    #[backup(memory_id = 5, skip)]
    balance_cache: StableBTreeMap<Principal, u64, Memory>,
}

/// Opens an account for `owner` and returns its number.
#[ic_cdk::update(guard = "is_authorized")]
fn open_account(owner: Principal, kind: AccountKind, limits: Option<Limits>) -> u64 {
    let number =
        ACCOUNTS.with(|accounts| accounts.borrow().last_key_value().map_or(1, |(n, _)| n + 1));
    let account = Account {
        owner,
        balance: 0,
        kind,
        limits,
        memo: None,
    };
    ACCOUNTS.with(|accounts| accounts.borrow_mut().insert(number, account));
    OWNERS.with(|owners| owners.borrow_mut().insert(owner, number));
    number
}

/// Adds `amount` to an account.
#[ic_cdk::update(guard = "is_authorized")]
fn deposit(account: u64, amount: u64) -> Result<u64, String> {
    ACCOUNTS.with(|accounts| {
        let mut accounts = accounts.borrow_mut();
        let mut entry = accounts
            .get(&account)
            .ok_or_else(|| format!("no account {account}"))?;
        entry.balance = entry
            .balance
            .checked_add(amount)
            .ok_or("balance overflow")?;
        let balance = entry.balance;
        BALANCE_CACHE.with(|cache| cache.borrow_mut().insert(entry.owner, balance));
        accounts.insert(account, entry);
        Ok(balance)
    })
}

/// Moves `amount` between accounts and logs the transfer, settled or refused.
#[ic_cdk::update(guard = "is_authorized")]
fn transfer(from: u64, to: u64, amount: u64) -> Result<u64, String> {
    let outcome = ACCOUNTS.with(|accounts| {
        let mut accounts = accounts.borrow_mut();
        let mut source = accounts
            .get(&from)
            .ok_or_else(|| format!("no account {from}"))?;
        let mut target = accounts
            .get(&to)
            .ok_or_else(|| format!("no account {to}"))?;
        if let AccountKind::Frozen { reason } = &source.kind {
            return Ok(TransferStatus::Refused {
                reason: format!("account {from} is frozen: {reason}"),
            });
        }
        let Some(left) = source.balance.checked_sub(amount) else {
            return Ok(TransferStatus::Refused {
                reason: format!("account {from} holds less than {amount}"),
            });
        };
        source.balance = left;
        target.balance = target
            .balance
            .checked_add(amount)
            .ok_or("balance overflow")?;
        accounts.insert(from, source);
        accounts.insert(to, target);
        Ok::<_, String>(TransferStatus::Settled)
    })?;
    let record = Transfer {
        from,
        to,
        amount,
        at_nanos: ic_cdk::api::time(),
        status: outcome,
    };
    Ok(TRANSFER_LOG.with(|log| {
        let mut log = log.borrow_mut();
        let id = log.last_key_value().map_or(1, |(id, _)| id + 1);
        log.insert(id, record);
        id
    }))
}

/// Stores a document under `name`.
#[ic_cdk::update(guard = "is_authorized")]
fn put_document(name: String, mime: String, content: ByteBuf) {
    DOCUMENTS.with(|documents| {
        documents
            .borrow_mut()
            .insert(name, Document { mime, content })
    });
}

/// Names an account.
#[ic_cdk::update(guard = "is_authorized")]
fn set_nickname(account: u64, nickname: String) {
    NICKNAMES.with(|nicknames| nicknames.borrow_mut().insert(account, nickname));
}

/// An account's nickname.
#[ic_cdk::query(guard = "is_authorized")]
fn get_nickname(account: u64) -> Option<String> {
    NICKNAMES.with(|nicknames| nicknames.borrow().get(&account))
}

#[ic_cdk::query(guard = "is_authorized")]
fn get_account(account: u64) -> Option<Account> {
    ACCOUNTS.with(|accounts| accounts.borrow().get(&account))
}

#[ic_cdk::query(guard = "is_authorized")]
fn get_document(name: String) -> Option<Document> {
    DOCUMENTS.with(|documents| documents.borrow().get(&name))
}

#[ic_cdk::query(guard = "is_authorized")]
fn get_transfer(id: u64) -> Option<Transfer> {
    TRANSFER_LOG.with(|log| log.borrow().get(&id))
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    use super::*;

    fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("the step panicked")
    }

    fn account(n: u8) -> Account {
        Account {
            owner: Principal::from_slice(&[n; 29]),
            balance: u64::from(n) << 56,
            kind: AccountKind::Savings {
                rate_basis_points: 125,
            },
            limits: Some(Limits {
                daily: 10,
                monthly: None,
            }),
            memo: Some(ByteBuf::from(vec![0, 255, n])),
        }
    }

    /// The canister's own manager over `backup_runtime::stable_memory()` sees
    /// an opened image; the skipped map is kept in the image too.
    #[test]
    fn an_image_opens_through_the_canisters_own_manager() {
        let dir = std::env::temp_dir().join(format!("ledger-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("stable_memory.bin");
        let path = image.clone();
        on_fresh_thread(move || {
            ACCOUNTS.with(|a| a.borrow_mut().insert(1, account(1)));
            BALANCE_CACHE.with(|c| c.borrow_mut().insert(Principal::from_slice(&[1; 29]), 5));
            Ledger::save_image(&path).unwrap();
        });
        let path = image.clone();
        let (restored, cached) = on_fresh_thread(move || {
            Ledger::open_image(&path).unwrap();
            (
                ACCOUNTS.with(|a| a.borrow().get(&1)),
                BALANCE_CACHE.with(|c| c.borrow().len()),
            )
        });
        assert_eq!(restored, Some(account(1)));
        assert_eq!(cached, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A manager the runtime does not own cannot be reset, so opening an
    /// image after the maps were used is an error, not silently stale state.
    #[test]
    fn opening_an_image_after_use_is_refused() {
        let dir = std::env::temp_dir().join(format!("ledger-in-use-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("stable_memory.bin");
        let path = image.clone();
        on_fresh_thread(move || {
            ACCOUNTS.with(|a| a.borrow_mut().insert(1, account(1)));
            Ledger::save_image(&path).unwrap()
        });
        let path = image.clone();
        let error = on_fresh_thread(move || {
            ACCOUNTS.with(|a| a.borrow_mut().insert(2, account(2)));
            Ledger::open_image(&path).unwrap_err()
        });
        assert!(
            matches!(error, backup_runtime::ImageError::InUse),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Regenerate with `UPDATE_DID=1 cargo test -p ledger`.
    #[test]
    fn candid_interface_is_up_to_date() {
        let generated = __export_service();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ledger.did");
        if std::env::var_os("UPDATE_DID").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            checked_in, generated,
            "ledger.did is stale: run UPDATE_DID=1 cargo test -p ledger"
        );
    }
}
