//! A hand-assembled Livepeer stub contract (no solc on these machines): it answers
//! `currentRound()` and `getTranscoder(address)` with the real ABI layout (ten uint256 words,
//! `lastRewardRound` first, `activationRound` and `deactivationRound` fifth and sixth), and the
//! BondingManager's transcoder pool as a linked list (`getFirstTranscoderInPool()`,
//! `getNextTranscoderInPool(address)`, the zero address at the end), plus four test-only setters.
//! Deployed twice, once as RoundsManager and once as BondingManager.
//!
//! `getTranscoder` calls every address active (activation 1, deactivation never) until its
//! deactivation round is set; but only addresses added to the pool (`addToPool`, which prepends)
//! are in the active set a collector reads. Storage: slot 0 the current round; `a` the last
//! reward round of `a`; `a + 2^160` NOT its deactivation round; `2^161` the pool's first member;
//! `a + 2^162` the member after `a`.

/// `currentRound()`: lpwatch's own selector (checked against the signature's hash in abi.rs).
pub const SEL_CURRENT_ROUND: u32 = u32::from_be_bytes(lpwatch::abi::CURRENT_ROUND);
/// `getTranscoder(address)`, likewise.
pub const SEL_GET_TRANSCODER: u32 = u32::from_be_bytes(lpwatch::abi::GET_TRANSCODER);
/// `getFirstTranscoderInPool()`, likewise.
pub const SEL_FIRST_IN_POOL: u32 = u32::from_be_bytes(lpwatch::abi::GET_FIRST_TRANSCODER_IN_POOL);
/// `getNextTranscoderInPool(address)`, likewise.
pub const SEL_NEXT_IN_POOL: u32 = u32::from_be_bytes(lpwatch::abi::GET_NEXT_TRANSCODER_IN_POOL);
/// Test-only `setCurrentRound(uint256)` (selector chosen, not hashed).
pub const SEL_SET_ROUND: u32 = 0x11111111;
/// Test-only `setLastRewardRound(address,uint256)` (selector chosen, not hashed).
pub const SEL_SET_REWARD: u32 = 0x22222222;
/// Test-only `setDeactivationRound(address,uint256)` (selector chosen, not hashed).
pub const SEL_SET_DEACTIVATION: u32 = 0x33333333;
/// Test-only `addToPool(address)` (selector chosen, not hashed).
pub const SEL_ADD_TO_POOL: u32 = 0x44444444;

enum Item {
    Bytes(Vec<u8>),
    Label(&'static str),
    PushLabel(&'static str),
}

// Opcodes used.
const STOP: u8 = 0x00;
const ADD: u8 = 0x01;
const EQ: u8 = 0x14;
const NOT: u8 = 0x19;
const SHL: u8 = 0x1b;
const SHR: u8 = 0x1c;
const CALLDATALOAD: u8 = 0x35;
const CODECOPY: u8 = 0x39;
const MSTORE: u8 = 0x52;
const SLOAD: u8 = 0x54;
const SSTORE: u8 = 0x55;
const JUMPI: u8 = 0x57;
const JUMPDEST: u8 = 0x5b;
const PUSH1: u8 = 0x60;
const PUSH2: u8 = 0x61;
const PUSH4: u8 = 0x63;
const DUP1: u8 = 0x80;
const RETURN: u8 = 0xf3;
const REVERT: u8 = 0xfd;

fn ops(b: &[u8]) -> Item {
    Item::Bytes(b.to_vec())
}

fn push1(v: u8) -> Item {
    Item::Bytes(vec![PUSH1, v])
}

fn push2(v: u16) -> Item {
    Item::Bytes(vec![PUSH2, (v >> 8) as u8, v as u8])
}

/// Two passes: label offsets (every label push is PUSH2), then bytes.
fn assemble(items: &[Item]) -> Vec<u8> {
    let mut labels = std::collections::HashMap::new();
    let mut pc = 0usize;
    for it in items {
        match it {
            Item::Bytes(b) => pc += b.len(),
            Item::Label(l) => {
                labels.insert(*l, pc);
                pc += 1;
            }
            Item::PushLabel(_) => pc += 3,
        }
    }
    let mut out = Vec::with_capacity(pc);
    for it in items {
        match it {
            Item::Bytes(b) => out.extend_from_slice(b),
            Item::Label(_) => out.push(JUMPDEST),
            Item::PushLabel(l) => {
                let at = labels[l] as u16;
                out.extend_from_slice(&[PUSH2, (at >> 8) as u8, at as u8]);
            }
        }
    }
    out
}

/// Returns the word on top of the stack as the call's 32-byte answer.
fn return_word() -> [Item; 5] {
    [push1(0), ops(&[MSTORE]), push1(0x20), push1(0), ops(&[RETURN])]
}

fn dispatch(sel: u32, label: &'static str) -> Vec<Item> {
    let s = sel.to_be_bytes();
    vec![ops(&[DUP1, PUSH4, s[0], s[1], s[2], s[3], EQ]), Item::PushLabel(label), ops(&[JUMPI])]
}

/// The runtime code.
pub fn runtime() -> Vec<u8> {
    let mut it = vec![push1(0), ops(&[CALLDATALOAD]), push1(0xe0), ops(&[SHR])];
    it.extend(dispatch(SEL_CURRENT_ROUND, "current"));
    it.extend(dispatch(SEL_GET_TRANSCODER, "transcoder"));
    it.extend(dispatch(SEL_SET_ROUND, "set_round"));
    it.extend(dispatch(SEL_SET_REWARD, "set_reward"));
    it.extend(dispatch(SEL_SET_DEACTIVATION, "set_deactivation"));
    it.extend(dispatch(SEL_FIRST_IN_POOL, "first"));
    it.extend(dispatch(SEL_NEXT_IN_POOL, "next"));
    it.extend(dispatch(SEL_ADD_TO_POOL, "add_to_pool"));
    it.extend([push1(0), ops(&[DUP1, REVERT])]);
    // currentRound(): storage slot 0.
    it.extend([Item::Label("current"), push1(0), ops(&[SLOAD])]);
    it.extend(return_word());
    // getTranscoder(a): word 0 = storage[a]; activation 1; deactivation NOT storage[a + 2^160]
    // (2^256-1 until set); others 1..9 as sentinels, so a decoder reading the wrong word is caught.
    it.extend([Item::Label("transcoder"), push1(4), ops(&[CALLDATALOAD, SLOAD]), push1(0), ops(&[MSTORE])]);
    for (i, v) in [(1u16, 1u8), (2, 2), (3, 3), (4, 1), (6, 6), (7, 7), (8, 8), (9, 9)] {
        it.extend([push1(v), push2(i * 32), ops(&[MSTORE])]);
    }
    it.extend([
        push1(4),
        ops(&[CALLDATALOAD]),
        push1(1),
        push1(160),
        ops(&[SHL, ADD, SLOAD, NOT]),
        push2(5 * 32),
        ops(&[MSTORE]),
    ]);
    it.extend([push2(320), push1(0), ops(&[RETURN])]);
    // setCurrentRound(n): storage[0] = n.
    it.extend([Item::Label("set_round"), push1(4), ops(&[CALLDATALOAD]), push1(0), ops(&[SSTORE, STOP])]);
    // setLastRewardRound(a, n): storage[a] = n.
    it.extend([
        Item::Label("set_reward"),
        push1(0x24),
        ops(&[CALLDATALOAD]),
        push1(4),
        ops(&[CALLDATALOAD, SSTORE, STOP]),
    ]);
    // setDeactivationRound(a, n): storage[a + 2^160] = NOT n.
    it.extend([
        Item::Label("set_deactivation"),
        push1(0x24),
        ops(&[CALLDATALOAD, NOT]),
        push1(4),
        ops(&[CALLDATALOAD]),
        push1(1),
        push1(160),
        ops(&[SHL, ADD, SSTORE, STOP]),
    ]);
    // getFirstTranscoderInPool(): storage[2^161].
    it.extend([Item::Label("first"), push1(1), push1(161), ops(&[SHL, SLOAD])]);
    it.extend(return_word());
    // getNextTranscoderInPool(a): storage[a + 2^162].
    it.extend([Item::Label("next"), push1(4), ops(&[CALLDATALOAD]), push1(1), push1(162), ops(&[SHL, ADD, SLOAD])]);
    it.extend(return_word());
    // addToPool(a): storage[a + 2^162] = storage[2^161]; storage[2^161] = a.
    it.extend([
        Item::Label("add_to_pool"),
        push1(1),
        push1(161),
        ops(&[SHL, SLOAD]),
        push1(4),
        ops(&[CALLDATALOAD]),
        push1(1),
        push1(162),
        ops(&[SHL, ADD, SSTORE]),
        push1(4),
        ops(&[CALLDATALOAD]),
        push1(1),
        push1(161),
        ops(&[SHL, SSTORE, STOP]),
    ]);
    assemble(&it)
}

/// Creation code: copies the runtime into memory and returns it.
pub fn init_code() -> Vec<u8> {
    let rt = runtime();
    let len = rt.len() as u16;
    let header_len: u16 = 15;
    let mut code = vec![
        PUSH2,
        (len >> 8) as u8,
        len as u8,
        PUSH2,
        (header_len >> 8) as u8,
        header_len as u8,
        PUSH1,
        0,
        CODECOPY,
        PUSH2,
        (len >> 8) as u8,
        len as u8,
        PUSH1,
        0,
        RETURN,
    ];
    assert_eq!(code.len(), header_len as usize);
    code.extend(rt);
    code
}

fn word_u64(v: u64) -> String {
    format!("{v:064x}")
}

fn word_addr(a: &str) -> String {
    format!("{:0>64}", a.trim_start_matches("0x").to_lowercase())
}

/// Calldata for the test-only `setCurrentRound(n)`.
pub fn set_round(n: u64) -> String {
    format!("0x{SEL_SET_ROUND:08x}{}", word_u64(n))
}

/// Calldata for the test-only `setDeactivationRound(addr, n)`: from round `n` on, `addr` is no
/// active orchestrator.
pub fn set_deactivation(addr: &str, n: u64) -> String {
    format!("0x{SEL_SET_DEACTIVATION:08x}{}{}", word_addr(addr), word_u64(n))
}

/// Calldata for the test-only `addToPool(addr)`: `addr` joins the transcoder pool, first.
pub fn add_to_pool(addr: &str) -> String {
    format!("0x{SEL_ADD_TO_POOL:08x}{}", word_addr(addr))
}

/// Calldata for the test-only `setLastRewardRound(addr, n)`.
pub fn set_reward(addr: &str, n: u64) -> String {
    format!("0x{SEL_SET_REWARD:08x}{}{}", word_addr(addr), word_u64(n))
}
