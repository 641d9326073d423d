//! The disclosure rules, with one home: which addresses a node counts as one gateway, which cells it
//! may share, and which aggregates the collector may publish, so that no published number is one
//! party's number. lpwatch applies the node side when it bins gateways into cells; the collector
//! applies [`publish`] to what the orchestrators pushed.
//!
//! # Node side
//! - A gateway is a network, not an address ([`gateway_key`]): IPv4 by its /24, IPv6 by its /64,
//!   coarser when the geo database's record covers a larger network.
//! - A cell is shared as its own cell only with at least k distinct gateways (k from
//!   [`min_gateways`], never below [`K_FLOOR`]) and no gateway holding more than [`DOMINANCE`] of
//!   its connections ([`cell_may_be_shared`]).
//!
//! # Collector side ([`publish`])
//! The aggregates form a strict tree: world ⊃ region ⊃ cell, each cell in exactly one region (a
//! cell label pushed under two regions is two cells, keyed by (cell, region)).
//! 1. Primary suppression. An aggregate (cell, region or world) is publishable only when its
//!    contributions come from at least [`K_FLOOR`] distinct orchestrators with streams in it (one
//!    that pushed a cell with none is not counted), and for every number published of it
//!    (streams, gateways, pixels per second, capacity): no orchestrator holds more than
//!    [`DOMINANCE`] of it, and the p% rule holds: what remains beyond the two largest is at least
//!    [`P_RULE`] of the largest, so that the second largest, subtracting its own, cannot tell the
//!    largest's number closer than that. A number totalling 0 passes; a negative or not finite
//!    one fails.
//! 2. Complementary suppression. The residual of a published aggregate is its contributions that
//!    lie in no published aggregate beneath it: exactly what it minus the published aggregates
//!    beneath it reveals. For a region, its suppressed cells; for the world, the suppressed cells
//!    of suppressed regions (a suppressed region counts whole, less its published cells). A
//!    non-empty residual must pass rule 1. While it does not, the published aggregate nearest
//!    beneath it (for the world: a published region, or a published cell of a suppressed region)
//!    with the fewest streams (ties by name) is suppressed too, which moves its residual into the
//!    parent's. Once every child is suppressed the residual is the parent itself, which
//!    passes rule 1 (were it not to, the parent is suppressed). This repeats, world first, until
//!    nothing changes.
//!
//!    Why it suffices: in a strict tree every exact sum an observer can form from published totals
//!    (any published aggregate minus published aggregates inside it) is a disjoint union of
//!    residuals and published aggregates, and rule 1 survives disjoint unions: the count only
//!    grows, shares of at most [`DOMINANCE`] in each part stay so in the sum, and the p% rule's
//!    shortfall ((1 + p) x1 + x2 - total) of a union is at most the sum of its parts'. It needs the
//!    strict tree: with overlapping parents, subtracting one parent from another could split a
//!    residual that passes into parts that do not.
//! 3. Deterministic output: cells sorted by (cell, region), regions by name.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// No configuration lowers this: the least number of distinct gateways in a cell a node shares,
/// and of distinct orchestrators in anything the collector publishes. With 3, any one party who
/// subtracts its own share of a number is still left with the sum of at least two others.
pub const K_FLOOR: usize = 3;

/// The largest share of a published aggregate's volume (streams) one party may hold, and of a
/// shared cell's connections one gateway may hold. 0.5 rather than 0.6: no published number is
/// mostly one party's, so it always overstates any one party at least twofold, and the others
/// together hold at least as much as the largest. 0.6 would let one party be the majority.
pub const DOMINANCE: f64 = 0.5;

/// The p% rule's p: of a published number, what the orchestrators beyond the two largest hold is
/// at least this share of the largest's. With 50/49/1 (which dominance alone lets through) the
/// 49 would learn the 50 to within 1; it is suppressed.
pub const P_RULE: f64 = 0.1;

/// The configured k (lpwatch's `share.min_gateways`, lpbake's `lpwatch.share.min_gateways`, the
/// NixOS option): `Ok(k)` when k >= [`K_FLOOR`], else a message naming the floor.
pub fn min_gateways(k: usize) -> Result<usize, String> {
    if k >= K_FLOOR {
        Ok(k)
    } else {
        Err(format!(
            "must be at least {K_FLOOR} (the floor no configuration lowers: a cell of fewer gateways would name them)"
        ))
    }
}

/// The network one gateway is counted as: IPv4 by its /24, IPv6 by its /64, and coarser when the
/// geo database's record for the address covers a larger network (`db_prefix` = that record's
/// prefix length, in the family the address is counted in): all addresses in one such network are
/// one gateway. A record narrower than the default never splits it. IPv4-mapped IPv6 addresses
/// count as IPv4.
pub fn gateway_key(ip: IpAddr, db_prefix: Option<u8>) -> IpNet {
    let coarser = |default: u8| db_prefix.map_or(default, |p| p.min(default));
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, coarser(24)).expect("a prefix of at most 24 fits IPv4").trunc()),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::new(a, coarser(64)).expect("a prefix of at most 64 fits IPv6").trunc()),
    }
}

/// Node side: whether a cell may be shared as its own cell: at least `k` (and never fewer than
/// [`K_FLOOR`]) distinct gateway keys with connections, and no key holding more than
/// [`DOMINANCE`] of the cell's connections. `per_gateway` = connections per distinct gateway key.
pub fn cell_may_be_shared(per_gateway: &[usize], k: usize) -> bool {
    let present: Vec<usize> = per_gateway.iter().copied().filter(|&n| n > 0).collect();
    let total: usize = present.iter().sum();
    present.len() >= k.max(K_FLOOR) && present.iter().all(|&n| !dominates(n as f64, total as f64))
}

/// Collector side. One orchestrator's numbers for one cell (what it pushed): its streams, its
/// distinct gateways, the pixels per second it transcodes and its transcoding capacity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub orchestrator: String,
    pub cell: String,
    /// The cell's region (its continent).
    pub region: String,
    pub streams: f64,
    pub gateways: f64,
    pub pixels_per_second: f64,
    pub capacity: f64,
}

/// A published aggregate's numbers: its distinct orchestrators and the sums of its contributions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    pub orchestrators: usize,
    pub streams: f64,
    pub gateways: f64,
    pub pixels_per_second: f64,
    pub capacity: f64,
}

/// What may be published: cells as (cell, region, totals) sorted by (cell, region), regions as
/// (region, totals) sorted by name, and the world when it may be.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Published {
    pub cells: Vec<(String, String, Totals)>,
    pub regions: Vec<(String, Totals)>,
    pub world: Option<Totals>,
}

/// What may be published from `contributions`, by the rules of the module documentation:
/// hierarchy cell ⊂ region ⊂ world, primary then complementary suppression to a fixed point.
pub fn publish(contributions: &[Contribution]) -> Published {
    let tree = Tree::new(contributions);
    let mut published: Vec<bool> = tree.nodes.iter().map(|n| passes(contributions, &n.members)).collect();
    let mut changed = true;
    while changed {
        changed = false;
        // Index order is world, regions, cells: parents before their children.
        for p in 0..tree.nodes.len() {
            while published[p] {
                let (residual, frontier) = tree.residual(p, &published);
                if residual.is_empty() || passes(contributions, &residual) {
                    break;
                }
                let streams =
                    |n: usize| -> f64 { tree.nodes[n].members.iter().map(|&i| contributions[i].streams).sum() };
                // Node indices follow names, so the index breaks ties by name.
                let victim = frontier.into_iter().min_by(|&a, &b| streams(a).total_cmp(&streams(b)).then(a.cmp(&b)));
                published[victim.unwrap_or(p)] = false;
                changed = true;
            }
        }
    }
    let totals = |n: usize| published[n].then(|| totals(contributions, &tree.nodes[n].members));
    Published {
        cells: (tree.cells.iter().enumerate())
            .filter_map(|(i, (cell, region))| Some(((*cell).into(), (*region).into(), totals(tree.cell(i))?)))
            .collect(),
        regions: (tree.regions.iter().enumerate()).filter_map(|(i, r)| Some(((*r).into(), totals(1 + i)?))).collect(),
        world: totals(0),
    }
}

/// One aggregate: its contributions (those of every cell beneath it) and the aggregates directly
/// beneath it.
struct Node {
    members: Vec<usize>,
    children: Vec<usize>,
}

/// The hierarchy of `publish`: node 0 is the world, then the regions by name, then the cells by
/// (cell, region).
struct Tree<'a> {
    regions: Vec<&'a str>,
    cells: Vec<(&'a str, &'a str)>,
    nodes: Vec<Node>,
}

impl<'a> Tree<'a> {
    fn new(contributions: &'a [Contribution]) -> Self {
        let mut cells: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (i, c) in contributions.iter().enumerate() {
            cells.entry((c.cell.as_str(), c.region.as_str())).or_default().push(i);
        }
        let regions: Vec<&str> = cells.keys().map(|&(_, r)| r).collect::<BTreeSet<_>>().into_iter().collect();
        let world = Node { members: (0..contributions.len()).collect(), children: (1..=regions.len()).collect() };
        let mut nodes: Vec<Node> = std::iter::once(world)
            .chain(regions.iter().map(|_| Node { members: Vec::new(), children: Vec::new() }))
            .collect();
        for (&(_, region), members) in &cells {
            let r = 1 + regions.binary_search(&region).expect("every cell's region is listed");
            let n = nodes.len();
            nodes[r].children.push(n);
            nodes[r].members.extend(members);
            nodes.push(Node { members: members.clone(), children: Vec::new() });
        }
        for n in &mut nodes {
            // One order for every set, so that sums over the same set are the same sums.
            n.members.sort_unstable();
        }
        Tree { regions, cells: cells.into_keys().collect(), nodes }
    }

    /// The node index of cell `i`.
    fn cell(&self, i: usize) -> usize {
        1 + self.regions.len() + i
    }

    /// The residual of node `p` (its contributions in no published node beneath it) and its
    /// frontier (the published nodes directly beneath it, through suppressed ones).
    fn residual(&self, p: usize, published: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let (mut residual, mut frontier) = (Vec::new(), Vec::new());
        let mut stack = vec![p];
        while let Some(n) = stack.pop() {
            let node = &self.nodes[n];
            if n != p && published[n] {
                frontier.push(n);
            } else if node.children.is_empty() {
                residual.extend(&node.members);
            } else {
                stack.extend(&node.children);
            }
        }
        residual.sort_unstable();
        (residual, frontier)
    }
}

/// Rule 1 on a set of contributions: at least [`K_FLOOR`] distinct orchestrators with streams in
/// it, and every published number of it safe ([`safe`]) over the orchestrators' sums.
fn passes(contributions: &[Contribution], set: &[usize]) -> bool {
    let mut per: BTreeMap<&str, [f64; 4]> = BTreeMap::new();
    for &i in set {
        let c = &contributions[i];
        let sums = per.entry(c.orchestrator.as_str()).or_default();
        for (sum, v) in sums.iter_mut().zip([c.streams, c.gateways, c.pixels_per_second, c.capacity]) {
            *sum += v;
        }
    }
    per.values().filter(|m| m[0] > 0.0).count() >= K_FLOOR && (0..4).all(|k| safe(per.values().map(|m| m[k])))
}

/// One published number, from each orchestrator's part: every part finite and not negative, and,
/// unless it totals 0, no part over [`DOMINANCE`] of it and the p% rule ([`P_RULE`]).
fn safe(parts: impl Iterator<Item = f64>) -> bool {
    let mut parts: Vec<f64> = parts.collect();
    if parts.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return false;
    }
    parts.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = parts.iter().sum();
    let (x1, x2) = (parts.first().copied().unwrap_or(0.0), parts.get(1).copied().unwrap_or(0.0));
    total == 0.0 || (!dominates(x1, total) && total - x1 - x2 >= P_RULE * x1)
}

/// Whether `part` is more than [`DOMINANCE`] of `total`.
fn dominates(part: f64, total: f64) -> bool {
    part > DOMINANCE * total
}

fn totals(contributions: &[Contribution], set: &[usize]) -> Totals {
    let sum = |f: fn(&Contribution) -> f64| set.iter().map(|&i| f(&contributions[i])).sum();
    Totals {
        orchestrators: set.iter().map(|&i| &contributions[i].orchestrator).collect::<BTreeSet<_>>().len(),
        streams: sum(|c| c.streams),
        gateways: sum(|c| c.gateways),
        pixels_per_second: sum(|c| c.pixels_per_second),
        capacity: sum(|c| c.capacity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn contribution(orchestrator: &str, cell: &str, region: &str, streams: f64) -> Contribution {
        Contribution {
            orchestrator: orchestrator.into(),
            cell: cell.into(),
            region: region.into(),
            streams,
            gateways: 3.0,
            pixels_per_second: streams * 1000.0,
            capacity: 10.0,
        }
    }

    /// Berlin (orchestrators a, b, c) and Madrid (a alone) in region europe.
    fn berlin_and_madrid() -> Vec<Contribution> {
        vec![
            contribution("a", "berlin", "europe", 10.0),
            contribution("b", "berlin", "europe", 10.0),
            contribution("c", "berlin", "europe", 10.0),
            contribution("a", "madrid", "europe", 5.0),
        ]
    }

    /// Today's rule: every cell, region and the world with >= 3 orchestrators, nothing else.
    fn threshold_only(c: &[Contribution]) -> Published {
        let tree = Tree::new(c);
        let totals = |n: usize| Some(totals(c, &tree.nodes[n].members)).filter(|t| t.orchestrators >= 3);
        Published {
            cells: (tree.cells.iter().enumerate())
                .filter_map(|(i, (cell, region))| Some((cell.to_string(), region.to_string(), totals(tree.cell(i))?)))
                .collect(),
            regions: (tree.regions.iter().enumerate())
                .filter_map(|(i, r)| Some((r.to_string(), totals(1 + i)?)))
                .collect(),
            world: totals(0),
        }
    }

    /// Every union of `a` with `b`, element by element: the attacker's choices in two disjoint parts.
    fn product(a: &HashSet<u32>, b: &HashSet<u32>) -> HashSet<u32> {
        a.iter().flat_map(|x| b.iter().map(move |y| x | y)).collect()
    }

    /// The attacker, who knows every published total and which cell lies in which region. It forms
    /// every exact sum it can: a published aggregate minus any published aggregates (disjoint)
    /// nested inside it. Returns the first such non-empty set of contributions (as indices) with
    /// fewer than K_FLOOR orchestrators, a dominant one, or an orchestrator who, subtracting its
    /// own, is left with fewer than 2 others.
    fn attack(c: &[Contribution], p: &Published) -> Option<Vec<usize>> {
        let cells: Vec<(&str, &str)> =
            c.iter().map(|x| (x.cell.as_str(), x.region.as_str())).collect::<BTreeSet<_>>().into_iter().collect();
        assert!(cells.len() <= 32, "the attacker's cell sets are 32-bit masks");
        let published_cells: BTreeSet<(&str, &str)> =
            p.cells.iter().map(|(c, r, _)| (c.as_str(), r.as_str())).collect();
        let published_regions: BTreeSet<&str> = p.regions.iter().map(|(r, _)| r.as_str()).collect();
        let regions: BTreeSet<&str> = cells.iter().map(|&(_, r)| r).collect();
        let mut revealed: HashSet<u32> = HashSet::new();
        // For each cell and region: what the attacker can leave of it inside a larger sum.
        let mut region_options = Vec::new();
        for region in regions {
            let mut inside = HashSet::from([0]);
            for (i, cell) in cells.iter().enumerate().filter(|(_, cell)| cell.1 == region) {
                let mut options = HashSet::from([1 << i]);
                if published_cells.contains(cell) {
                    revealed.insert(1 << i);
                    options.insert(0);
                }
                inside = product(&inside, &options);
            }
            if published_regions.contains(region) {
                revealed.extend(&inside);
                inside.insert(0);
            }
            region_options.push(inside);
        }
        if p.world.is_some() {
            revealed.extend(region_options.iter().fold(HashSet::from([0]), |all, o| product(&all, o)));
        }
        let mut revealed: Vec<u32> = revealed.into_iter().filter(|&m| m != 0).collect();
        revealed.sort_unstable();
        revealed
            .into_iter()
            .map(|mask| {
                (0..c.len())
                    .filter(|&i| {
                        mask & 1 << cells.binary_search(&(c[i].cell.as_str(), c[i].region.as_str())).unwrap() != 0
                    })
                    .collect::<Vec<_>>()
            })
            .find(|set| exposes(c, set))
    }

    /// Whether a revealed set names a party, judged from the definitions alone: fewer than
    /// K_FLOOR orchestrators with streams (so an insider, subtracting its own, is left with fewer
    /// than 2 others), or a number
    /// (streams, gateways, pixels, capacity) one orchestrator dominates or the second largest can
    /// tell the largest's of closer than P_RULE.
    fn exposes(c: &[Contribution], set: &[usize]) -> bool {
        let measures: [fn(&Contribution) -> f64; 4] =
            [|x| x.streams, |x| x.gateways, |x| x.pixels_per_second, |x| x.capacity];
        let with_streams: BTreeSet<&str> =
            set.iter().filter(|&&i| c[i].streams > 0.0).map(|&i| c[i].orchestrator.as_str()).collect();
        let unsafe_number = measures.iter().any(|m| {
            let mut per: BTreeMap<&str, f64> = BTreeMap::new();
            for &i in set {
                *per.entry(c[i].orchestrator.as_str()).or_default() += m(&c[i]);
            }
            let total: f64 = per.values().sum();
            let mut parts: Vec<f64> = per.into_values().collect();
            parts.sort_by(|a, b| b.total_cmp(a));
            let (x1, x2) = (parts[0], parts.get(1).copied().unwrap_or(0.0));
            total > 0.0 && (x1 > DOMINANCE * total || total - x1 - x2 < P_RULE * x1)
        });
        with_streams.len() < K_FLOOR || unsafe_number
    }

    #[test]
    fn empty_parts_near_ties_and_dominated_numbers_are_not_published() {
        // c pushed the cell with no streams: a and b alone, each would learn the other's.
        let zero =
            [contribution("a", "x", "r", 10.0), contribution("b", "x", "r", 10.0), contribution("c", "x", "r", 0.0)];
        assert_eq!(publish(&zero).world, None);
        // 50/49/1: no one over half, but the 49 would learn the 50 to within 1 (the p% rule).
        let near =
            [contribution("a", "x", "r", 50.0), contribution("b", "x", "r", 49.0), contribution("c", "x", "r", 1.0)];
        assert_eq!(publish(&near).world, None);
        // Equal streams, but a's capacity is most of the cell's.
        let mut capacity =
            [contribution("a", "x", "r", 5.0), contribution("b", "x", "r", 5.0), contribution("c", "x", "r", 5.0)];
        capacity[0].capacity = 200.0;
        assert_eq!(publish(&capacity).world, None);
        capacity[0].capacity = 10.0;
        assert!(publish(&capacity).world.is_some());
    }

    #[test]
    fn berlin_and_madrid_are_both_suppressed() {
        let c = berlin_and_madrid();
        let p = publish(&c);
        assert!(p.cells.is_empty(), "{p:?}");
        let europe =
            Totals { orchestrators: 3, streams: 35.0, gateways: 12.0, pixels_per_second: 35000.0, capacity: 40.0 };
        assert_eq!(p.regions, vec![("europe".to_string(), europe.clone())]);
        assert_eq!(p.world, Some(europe));
        assert_eq!(attack(&c, &p), None);
    }

    #[test]
    fn threshold_only_lets_the_attacker_name_madrid() {
        let c = berlin_and_madrid();
        let p = threshold_only(&c);
        assert_eq!(p.cells.len(), 1);
        // europe − berlin = madrid = orchestrator a's contribution alone.
        assert_eq!(attack(&c, &p), Some(vec![3]));
    }

    #[test]
    fn the_world_residual_subtracts_published_cells_of_suppressed_regions() {
        let mut c = Vec::new();
        // europe and africa each fail dominance; together they pass. berlin and lagos pass alone.
        for (cell, region, heavy) in [("berlin", "europe", "a"), ("lagos", "africa", "b")] {
            c.extend(["a", "b", "c"].map(|o| contribution(o, cell, region, 10.0)));
            c.push(contribution(heavy, &format!("{cell}-east"), region, 100.0));
        }
        c.extend(["c", "d", "e"].map(|o| contribution(o, "tokyo", "asia", 1000.0)));
        let p = publish(&c);
        assert_eq!(p.regions.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), ["asia"]);
        // world − asia − berlin − lagos would leave a's and b's eastern cells: one of them goes too.
        assert!(p.world.is_some() && p.cells.len() < 3, "{p:?}");
        assert_eq!(attack(&c, &p), None);
        assert!(attack(&c, &threshold_only(&c)).is_some());
    }

    #[test]
    fn a_cell_label_under_two_regions_is_two_cells() {
        let c: Vec<Contribution> = ["a", "b", "c"]
            .into_iter()
            .flat_map(|o| [contribution(o, "x", "europe", 1.0), contribution(o, "x", "asia", 2.0)])
            .collect();
        let p = publish(&c);
        let cells: Vec<(&str, &str, f64)> =
            p.cells.iter().map(|(c, r, t)| (c.as_str(), r.as_str(), t.streams)).collect();
        assert_eq!(cells, [("x", "asia", 6.0), ("x", "europe", 3.0)]);
        assert_eq!(p.regions.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), ["asia", "europe"]);
        assert_eq!(publish(&[]), Published { cells: vec![], regions: vec![], world: None });
    }

    #[test]
    fn min_gateways_has_a_floor() {
        for k in [0, 1, 2] {
            let e = min_gateways(k).unwrap_err();
            assert!(e.contains("at least 3") && e.contains("floor"), "{e}");
        }
        assert_eq!((min_gateways(3), min_gateways(10)), (Ok(3), Ok(10)));
    }

    #[test]
    fn gateway_keys_are_networks() {
        let key = |ip: &str, prefix| gateway_key(ip.parse().unwrap(), prefix);
        let v6 = ["2001:db8::1", "2001:db8::ffff:1", "2001:db8:0:0:1234::9"].map(|ip| key(ip, None));
        assert!(v6.iter().all(|k| *k == v6[0]) && v6[0] == "2001:db8::/64".parse::<IpNet>().unwrap());
        assert_eq!(key("10.0.0.1", None), key("10.0.0.200", None));
        assert_ne!(key("10.0.0.1", None), key("10.0.1.1", None));
        assert_eq!(key("::ffff:10.0.0.1", None), key("10.0.0.1", None));
        assert_eq!(key("10.0.0.1", Some(16)), key("10.0.99.1", Some(16)));
        assert_eq!(key("10.0.0.1", Some(28)), key("10.0.0.200", Some(28)));
        assert_eq!(key("10.0.0.1", Some(28)), "10.0.0.0/24".parse::<IpNet>().unwrap());
    }

    #[test]
    fn a_cell_needs_k_gateways_and_none_dominant() {
        assert!(cell_may_be_shared(&[1, 1, 1], 3));
        assert!(!cell_may_be_shared(&[1, 1], 3));
        assert!(!cell_may_be_shared(&[10, 1, 1], 3));
        assert!(!cell_may_be_shared(&[1, 1, 0], 3));
        assert!(!cell_may_be_shared(&[1, 1], 1), "k below the floor is the floor");
    }

    /// 1..=4 regions of 1..=5 cells, each cell with 1..=5 orchestrators from one pool of up to 8,
    /// streams none, few or many, 3..=10 gateways and 0..=200 capacity each. Cell labels repeat across regions.
    fn population() -> impl Strategy<Value = Vec<Contribution>> {
        let cells = (3usize..=8).prop_flat_map(|pool| {
            let cell =
                proptest::sample::subsequence((0..pool).collect::<Vec<_>>(), 1..=pool.min(5)).prop_flat_map(|orchs| {
                    let n = orchs.len();
                    let numbers = (prop_oneof![Just(0u32), 1u32..=3, 100u32..=1000], 3u32..=10, 0u32..=200);
                    (Just(orchs), proptest::collection::vec(numbers, n))
                });
            proptest::collection::vec(proptest::collection::vec(cell, 1..=5), 1..=4)
        });
        cells.prop_map(|regions| {
            let mut c = Vec::new();
            for (r, cells) in regions.iter().enumerate() {
                for (j, (orchs, numbers)) in cells.iter().enumerate() {
                    for (o, &(streams, gateways, capacity)) in orchs.iter().zip(numbers) {
                        c.push(Contribution {
                            gateways: f64::from(gateways),
                            capacity: f64::from(capacity),
                            ..contribution(&format!("o{o}"), &format!("c{j}"), &format!("r{r}"), f64::from(streams))
                        });
                    }
                }
            }
            c
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_difference_of_published_totals_names_a_party(c in population()) {
            let p = publish(&c);
            prop_assert_eq!(attack(&c, &p), None, "{:?}", p);
            let mut reversed = c.clone();
            reversed.reverse();
            prop_assert_eq!(publish(&reversed), p);
        }

        #[test]
        fn fewer_gateways_than_k_are_never_shared(per_gateway in proptest::collection::vec(0usize..100, 0..8), k in 0usize..10) {
            if per_gateway.len() < k || per_gateway.len() < K_FLOOR {
                prop_assert!(!cell_may_be_shared(&per_gateway, k));
            }
        }
    }
}
