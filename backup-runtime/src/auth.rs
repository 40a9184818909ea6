//! Who may back up, restore and touch raw stable memory.
//!
//! Two sets, as in the Factland article: the admin set lives in stable memory
//! and survives upgrades; the raw-access set lives on the heap, so an upgrade
//! empties it and raw access has to be granted again each time. Controllers
//! pass both checks without being in either set.

use crate::image::{describe_bytes, MANAGER_MAGIC, MAP_MAGIC};
use candid::Principal;
use ic_stable_structures::{Memory, StableBTreeMap};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

/// The admin set: principals allowed through `is_authorized`, in stable memory.
pub type AdminSet<M> = StableBTreeMap<Principal, (), M>;

/// The raw-access set: principals allowed through `is_stable_authorized`, on
/// the heap.
pub type RawAccessSet = BTreeSet<Principal>;

/// The admin set, opened only when it exists and is ours: a guard that
/// reads it never creates it, and nothing here ever initialises a map over
/// memory that holds something else, so a call refused or answered before
/// anyone was authorized leaves stable memory exactly as it was.
pub struct LazyAdminSet<M: Memory> {
    /// The `MemoryId` of the set's memory, for messages.
    memory_id: u8,
    set: Option<AdminSet<M>>,
}

/// The first 12 bytes of an admin set's memory: magic, layout version and
/// page size, exactly as `StableBTreeMap::new` writes them for
/// `StableBTreeMap<Principal, (), _>`.
fn admin_set_signature() -> [u8; 12] {
    let memory = ic_stable_structures::VectorMemory::default();
    let _: AdminSet<_> = StableBTreeMap::new(memory.clone());
    let mut signature = [0u8; 12];
    memory.read(0, &mut signature);
    signature
}

/// The same map in the v1 layout of older ic-stable-structures releases:
/// magic, version 1, max key size 29 (a principal), max value size 0.
const ADMIN_SET_V1: [u8; 12] = [b'B', b'T', b'R', 1, 29, 0, 0, 0, 0, 0, 0, 0];

/// Whether a memory starting with `header` holds the admin set. The
/// signature is only built for a header that starts like a map.
fn is_admin_set(header: &[u8; 12]) -> bool {
    header[..3] == MAP_MAGIC[..] && (*header == ADMIN_SET_V1 || *header == admin_set_signature())
}

/// What a memory starting with `bytes` holds, for messages.
pub(crate) fn describe(bytes: &[u8]) -> String {
    if bytes.iter().all(|byte| *byte == 0) {
        "zeros".into()
    } else {
        format!("a structure with magic {}", describe_bytes(&bytes[..3]))
    }
}

impl<M: Memory> LazyAdminSet<M> {
    /// The admin set kept in the memory with id `memory_id`.
    pub const fn new(memory_id: u8) -> Self {
        LazyAdminSet {
            memory_id,
            set: None,
        }
    }

    fn taken(&self, found: String) -> AccessError {
        AccessError::AdminMemoryTaken {
            memory_id: self.memory_id,
            found,
        }
    }

    /// The set, if stable memory holds one: `Ok(None)` when its memory is
    /// empty, an error when the memory (or stable memory itself) holds
    /// something else. `open` hands out the set's memory.
    pub fn get(
        &mut self,
        open: impl FnOnce() -> M,
    ) -> Result<Option<&mut AdminSet<M>>, AccessError> {
        if self.set.is_none() {
            // With no stable memory at all, even asking the manager for the
            // set's memory would write the manager's header.
            let Some(magic) = crate::image::magic_of(&crate::memory::stable_memory()) else {
                return Ok(None);
            };
            // Over anything but a MemoryManager, opening the manager would
            // write a new one over it.
            if magic != *MANAGER_MAGIC {
                return Err(self.taken(format!(
                    "stable memory that is not a MemoryManager image ({})",
                    describe(&magic)
                )));
            }
            let memory = open();
            if memory.size() == 0 {
                return Ok(None);
            }
            let mut header = [0u8; 12];
            memory.read(0, &mut header);
            if !is_admin_set(&header) {
                return Err(self.taken(describe(&header)));
            }
            self.set = Some(StableBTreeMap::init(memory));
        }
        Ok(self.set.as_mut())
    }

    /// The set, created if its memory is empty; an error if the memory holds
    /// anything else, which is then left as it is.
    pub fn get_or_create(&mut self, open: impl Fn() -> M) -> Result<&mut AdminSet<M>, AccessError> {
        self.get(&open)?;
        Ok(self.set.get_or_insert_with(|| StableBTreeMap::new(open())))
    }

    /// Forgets the opened set, so the next use reads stable memory again.
    pub fn reset(&mut self) {
        self.set = None;
    }
}

/// The decision of `is_authorized` as the generated guard makes it: the
/// anonymous principal never passes; controllers pass without the admin set
/// being opened; anyone else must be in the set, which is only read, and
/// only while the heap matches stable memory.
pub fn admin_guard<M: Memory>(
    caller: &Principal,
    is_controller: bool,
    admins: &mut LazyAdminSet<M>,
    open: impl FnOnce() -> M,
) -> Result<(), AccessError> {
    if *caller == Principal::anonymous() || is_controller {
        return check_admin::<M>(caller, is_controller, None);
    }
    if crate::raw::check_heap_fresh().is_err() {
        return Err(AccessError::StaleHeap { caller: *caller });
    }
    match admins.get(open) {
        Ok(set) => check_admin(caller, false, set.map(|set| &*set)),
        Err(AccessError::AdminMemoryTaken { memory_id, found }) => {
            Err(AccessError::DeniedAdminMemoryTaken {
                caller: *caller,
                memory_id,
                found,
            })
        }
        Err(other) => Err(other),
    }
}

thread_local! {
    static RAW_ACCESS: RefCell<RawAccessSet> = const { RefCell::new(BTreeSet::new()) };
}

/// Runs `f` on the canister's raw-access set.
pub fn with_raw_access<R>(f: impl FnOnce(&mut RawAccessSet) -> R) -> R {
    RAW_ACCESS.with(|set| f(&mut set.borrow_mut()))
}

/// Why a caller was refused, or why a principal cannot be added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// The caller is neither a controller nor in the set the guard checks.
    Denied { caller: Principal, guard: Guard },
    /// The anonymous principal can never be granted access: anyone can call
    /// as anonymous.
    Anonymous,
    /// The admin set's memory holds something that is not the admin set
    /// (with `memory = ...`, perhaps a structure of the canister's own): it is
    /// never read as a set nor written; only controllers pass.
    AdminMemoryTaken { memory_id: u8, found: String },
    /// The caller is not a controller, and the admin set cannot be read
    /// because its memory holds something else.
    DeniedAdminMemoryTaken {
        caller: Principal,
        memory_id: u8,
        found: String,
    },
    /// Raw stable memory was written since the last upgrade, so the admin set
    /// on the heap may be stale: only controllers pass until the upgrade.
    StaleHeap { caller: Principal },
}

/// Which of the two guards refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// `is_authorized`: typed backup and restore, admin management.
    Admin,
    /// `is_stable_authorized`: raw stable memory.
    Raw,
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessError::Denied { caller, guard: Guard::Admin } => write!(
                f,
                "caller {caller} is not authorized: expected a controller or a principal added with `authorize`"
            ),
            AccessError::Denied { caller, guard: Guard::Raw } => write!(
                f,
                "caller {caller} is not authorized for raw stable memory: expected a controller or a principal added with `stable_authorize` since the last upgrade"
            ),
            AccessError::Anonymous => write!(
                f,
                "the anonymous principal (2vxsx-fae) cannot be authorized: anyone can call as anonymous"
            ),
            AccessError::AdminMemoryTaken { memory_id, found } => write!(
                f,
                "the admin set's memory {memory_id} holds {found}, not an admin set; it is left untouched and only controllers are authorized (choose another `auth_memory_id`)"
            ),
            AccessError::DeniedAdminMemoryTaken { caller, memory_id, found } => write!(
                f,
                "caller {caller} is not authorized: expected a controller or a principal added with `authorize`, and the admin set's memory {memory_id} holds {found}, not an admin set, so only controllers are authorized"
            ),
            AccessError::StaleHeap { caller } => write!(
                f,
                "caller {caller} is not authorized now: {}; until then only controllers are authorized",
                crate::raw::StaleHeap
            ),
        }
    }
}

impl std::error::Error for AccessError {}

/// The decision of `is_authorized`: controllers and members of the admin set
/// pass; the anonymous principal never does.
pub fn check_admin<M: Memory>(
    caller: &Principal,
    is_controller: bool,
    admins: Option<&AdminSet<M>>,
) -> Result<(), AccessError> {
    let member = || admins.is_some_and(|admins| admins.contains_key(caller));
    let allowed = *caller != Principal::anonymous() && (is_controller || member());
    allowed.then_some(()).ok_or(AccessError::Denied {
        caller: *caller,
        guard: Guard::Admin,
    })
}

/// The decision of `is_stable_authorized`: controllers and members of the
/// raw-access set pass; the anonymous principal never does.
pub fn check_raw(
    caller: &Principal,
    is_controller: bool,
    raw: &RawAccessSet,
) -> Result<(), AccessError> {
    let allowed = *caller != Principal::anonymous() && (is_controller || raw.contains(caller));
    allowed.then_some(()).ok_or(AccessError::Denied {
        caller: *caller,
        guard: Guard::Raw,
    })
}

/// Adds `principal` to the admin set. Adding a member again changes nothing.
pub fn authorize<M: Memory>(
    admins: &mut AdminSet<M>,
    principal: Principal,
) -> Result<(), AccessError> {
    refuse_anonymous(&principal)?;
    admins.insert(principal, ());
    Ok(())
}

/// Removes `principal` from the admin set. Removing a non-member changes
/// nothing; a controller still passes after being removed.
pub fn deauthorize<M: Memory>(admins: &mut AdminSet<M>, principal: &Principal) {
    admins.remove(principal);
}

/// The admin set's members, in principal order.
pub fn list<M: Memory>(admins: &AdminSet<M>) -> Vec<Principal> {
    admins.keys().collect()
}

/// Adds `principal` to the raw-access set until the next upgrade.
pub fn stable_authorize(raw: &mut RawAccessSet, principal: Principal) -> Result<(), AccessError> {
    refuse_anonymous(&principal)?;
    raw.insert(principal);
    Ok(())
}

/// Removes `principal` from the raw-access set.
pub fn stable_deauthorize(raw: &mut RawAccessSet, principal: &Principal) {
    raw.remove(principal);
}

fn refuse_anonymous(principal: &Principal) -> Result<(), AccessError> {
    if *principal == Principal::anonymous() {
        Err(AccessError::Anonymous)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
