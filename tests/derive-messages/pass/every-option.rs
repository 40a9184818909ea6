// Every option at once: the canister's own memory function, a moved admin
// set, renamed and skipped maps, text keys of a user's own type.
use backup_runtime::prelude::*;
use ic_stable_structures::memory_manager::MemoryManager;

thread_local! {
    static MANAGER: RefCell<MemoryManager<DefaultMemoryImpl>> =
        RefCell::new(MemoryManager::init(backup_runtime::stable_memory()));
}

fn my_memory(id: MemoryId) -> Memory {
    MANAGER.with(|m| m.borrow().get(id))
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sku(u64);

impl Storable for Sku {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_be_bytes().to_vec())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.to_be_bytes().to_vec()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&bytes);
        Sku(u64::from_be_bytes(raw))
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: 8,
        is_fixed_size: true,
    };
}

impl KeyText for Sku {
    fn to_key_text(&self) -> String {
        format!("SKU-{}", self.0)
    }
    fn from_key_text(text: &str) -> Result<Self, String> {
        text.strip_prefix("SKU-")
            .and_then(|n| n.parse().ok())
            .map(Sku)
            .ok_or_else(|| format!("expected SKU-<n>, found {text}"))
    }
}

#[derive(Backupable)]
#[backup(memory = my_memory, auth_memory_id = 10)]
struct Shop {
    #[backup(memory_id = 0, key = text)]
    stock: StableBTreeMap<Sku, u64, Memory>,
    #[backup(memory_id = 1, rename = "prices")]
    price_list: StableBTreeMap<u64, u64, Memory>,
    #[backup(memory_id = 2)]
    names: StableBTreeMap<String, String, Memory>,
    #[backup(memory_id = 254, skip)]
    scratch: StableBTreeMap<u64, u64, Memory>,
}

ic_cdk::export_candid!();

fn main() {
    let service = __export_service();
    assert!(service.contains("backup_prices :"), "{service}");
    assert!(
        service.contains("backup_stock_page : (opt text, opt nat64, opt text)"),
        "{service}"
    );
    assert!(
        service.contains("backup_names_page : (opt text, opt nat64, opt text)"),
        "{service}"
    );
    assert!(
        service.contains("backup_names_splits : (opt text, nat64, opt nat64)"),
        "{service}"
    );
    assert!(!service.contains("scratch"), "{service}");
    SCRATCH.with(|s| s.borrow_mut().insert(1, 1));
    STOCK.with(|s| s.borrow_mut().insert(Sku(1), 5));
}
