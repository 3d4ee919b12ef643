//! The Merkle tree of the audit trail, as RFC 9162 (Certificate Transparency 2.0) §2.1
//! defines it: SHA-256, leaf hash `H(0x00 ‖ event)`, node hash `H(0x01 ‖ left ‖ right)`,
//! the tree over `n` leaves split at the largest power of two below `n`. Inclusion and
//! consistency proofs, and their verification, follow §2.1.3 and §2.1.4.
//!
//! The algorithms ask a [`HashSource`] for the hashes of subtrees. A source that keeps the
//! hashes of complete subtrees (tiles) answers every call in O(log n) reads; [`Leaves`]
//! (all leaf hashes in memory) is the simple one used for verifying an export offline.

use ring::digest::{Context, SHA256, digest};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Errors of proof generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index or the tree sizes are outside the tree.
    #[error("index or size out of range")]
    OutOfRange,
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The hash of a leaf: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The hash of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b"").as_ref());
    out
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Where the hashes of subtrees come from.
pub trait HashSource {
    /// The hash of leaf `index`.
    fn leaf(&self, index: u64) -> Hash;

    /// The Merkle tree hash of leaves `start..end` (`start < end`). The default computes it
    /// from the leaves; a source that stores subtree hashes overrides it.
    fn range(&self, start: u64, end: u64) -> Hash {
        split_range(self, start, end)
    }
}

/// The hash of `start..end` from the hashes of its two halves (RFC 9162's split).
pub fn split_range<S: HashSource + ?Sized>(source: &S, start: u64, end: u64) -> Hash {
    let n = end - start;
    if n == 1 {
        return source.leaf(start);
    }
    let k = split(n);
    node_hash(
        &source.range(start, start + k),
        &source.range(start + k, end),
    )
}

/// A complete subtree: `(level, index)` covers leaves `index·2^level .. (index+1)·2^level`.
pub type NodeId = (u32, u64);

/// The complete subtree that `start..end` is, if it is one.
pub fn node_of(start: u64, end: u64) -> Option<NodeId> {
    let n = end.checked_sub(start)?;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        Some((n.trailing_zeros(), start / n))
    } else {
        None
    }
}

/// The complete subtrees along the right border of a tree of `size` leaves, largest first:
/// the only stored hashes needed to append to it and to compute its root.
pub fn border(size: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u32).rev() {
        if size & (1u64 << level) != 0 {
            out.push((level, start >> level));
            start += 1u64 << level;
        }
    }
    out
}

/// Appends leaves to a tree whose right border (see [`border`]) has the given hashes.
/// Returns every complete subtree the new leaves complete (leaves included, as level 0),
/// and the new root.
pub fn append(
    size: u64,
    border_hashes: &[(NodeId, Hash)],
    new_leaves: &[Hash],
) -> (Vec<(NodeId, Hash)>, Hash) {
    let mut stack: Vec<(NodeId, Hash)> = border_hashes.to_vec();
    let mut created = Vec::new();
    for (i, leaf) in new_leaves.iter().enumerate() {
        let node = ((0u32, size + i as u64), *leaf);
        created.push(node);
        stack.push(node);
        while stack.len() >= 2 {
            let ((rl, ri), rh) = stack[stack.len() - 1];
            let ((ll, _), lh) = stack[stack.len() - 2];
            if rl != ll {
                break;
            }
            stack.truncate(stack.len() - 2);
            let parent = ((rl + 1, ri / 2), node_hash(&lh, &rh));
            created.push(parent);
            stack.push(parent);
        }
    }
    let root = match stack.split_last() {
        None => empty_root(),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(last.1, |acc, (_, h)| node_hash(h, &acc)),
    };
    (created, root)
}

/// A tree grown one leaf at a time, keeping only its right border (O(log n) hashes): what
/// an offline verifier needs to recompute the root after every leaf of a stream.
#[derive(Debug, Clone, Default)]
pub struct CompactTree {
    size: u64,
    /// The border's complete subtrees, largest first: `(level, hash)`.
    border: Vec<(u32, Hash)>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(level, left)) = self.border.last() {
            if level != node.0 {
                break;
            }
            self.border.pop();
            node = (level + 1, node_hash(&left, &node.1));
        }
        self.border.push(node);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        match self.border.split_last() {
            None => empty_root(),
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(last.1, |acc, (_, h)| node_hash(h, &acc)),
        }
    }
}

/// Stored subtree hashes, as a [`HashSource`] for proofs: every range the proof algorithms
/// ask for is, or splits into, complete subtrees.
pub struct Nodes(pub std::collections::HashMap<NodeId, Hash>);

impl HashSource for Nodes {
    fn leaf(&self, index: u64) -> Hash {
        self.0.get(&(0, index)).copied().unwrap_or([0xff; 32])
    }

    fn range(&self, start: u64, end: u64) -> Hash {
        match node_of(start, end).and_then(|id| self.0.get(&id)) {
            Some(h) => *h,
            None => split_range(self, start, end),
        }
    }
}

/// Records which complete subtrees a computation reads, so that they can be fetched in one
/// query before the computation runs on [`Nodes`].
#[derive(Default)]
pub struct Needed(pub std::cell::RefCell<Vec<NodeId>>);

impl HashSource for Needed {
    fn leaf(&self, index: u64) -> Hash {
        self.0.borrow_mut().push((0, index));
        [0; 32]
    }

    fn range(&self, start: u64, end: u64) -> Hash {
        match node_of(start, end) {
            Some(id) => {
                self.0.borrow_mut().push(id);
                [0; 32]
            }
            None => split_range(self, start, end),
        }
    }
}

/// All leaf hashes in memory.
pub struct Leaves<'a>(pub &'a [Hash]);

impl HashSource for Leaves<'_> {
    /// Leaf `index`; the proof functions only ask for leaves inside the tree (an index
    /// past the end, a caller's bug, gives a hash no leaf has, so nothing verifies).
    fn leaf(&self, index: u64) -> Hash {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
            .unwrap_or([0xff; 32])
    }
}

/// The root of the tree of the first `size` leaves.
pub fn root(source: &(impl HashSource + ?Sized), size: u64) -> Hash {
    if size == 0 {
        empty_root()
    } else {
        source.range(0, size)
    }
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves
/// (RFC 9162 §2.1.3.1), leaf side first.
pub fn inclusion_proof(
    source: &(impl HashSource + ?Sized),
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let mut proof = Vec::new();
    path(source, index, 0, size, &mut proof);
    Ok(proof)
}

fn path(source: &(impl HashSource + ?Sized), m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(source, m, start, start + k, out);
        out.push(source.range(start + k, end));
    } else {
        path(source, m - k, start + k, end, out);
        out.push(source.range(start, start + k));
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// The consistency proof between the trees of the first `old` and `new` leaves
/// (RFC 9162 §2.1.4.1).
pub fn consistency_proof(
    source: &(impl HashSource + ?Sized),
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::OutOfRange);
    }
    let mut proof = Vec::new();
    if old < new {
        subproof(source, old, 0, new, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(
    source: &(impl HashSource + ?Sized),
    m: u64,
    start: u64,
    end: u64,
    b: bool,
    out: &mut Vec<Hash>,
) {
    let n = end - start;
    if m == n {
        if !b {
            out.push(source.range(start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(source, m, start, start + k, b, out);
        out.push(source.range(start + k, end));
    } else {
        subproof(source, m - k, start + k, end, false, out);
        out.push(source.range(start, start + k));
    }
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The eight leaves of the RFC 6962 reference test vectors (used by Certificate
    /// Transparency's implementations) and the roots of their first n, recomputed with a
    /// separate Python implementation.
    fn reference_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    #[test]
    fn reference_roots() {
        let leaves = reference_leaves();
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, hex) in expected.iter().enumerate() {
            let r = root(&Leaves(&leaves), n as u64 + 1);
            assert_eq!(data_encoding::HEXLOWER.encode(&r), *hex, "size {}", n + 1);
        }
        assert_eq!(
            data_encoding::HEXLOWER.encode(&root(&Leaves(&leaves), 0)),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("event {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other_leaf_does() {
        let all = leaves(40);
        for size in 1..=40u64 {
            let r = root(&Leaves(&all), size);
            for index in 0..size {
                let proof = inclusion_proof(&Leaves(&all), index, size).unwrap();
                let leaf = all[index as usize];
                assert!(
                    verify_inclusion(index, size, &leaf, &proof, &r),
                    "{index}/{size}"
                );
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(index, size, &other, &proof, &r));
                if size > 1 {
                    let moved = (index + 1) % size;
                    assert!(
                        !verify_inclusion(moved, size, &leaf, &proof, &r),
                        "{index}->{moved}/{size}"
                    );
                }
            }
        }
        assert!(inclusion_proof(&Leaves(&all), 5, 5).is_err());
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_past_does_not() {
        let all = leaves(33);
        let mut rewritten = all.clone();
        for new in 1..=33u64 {
            let new_root = root(&Leaves(&all), new);
            for old in 1..=new {
                let old_root = root(&Leaves(&all), old);
                let proof = consistency_proof(&Leaves(&all), old, new).unwrap();
                assert!(
                    verify_consistency(old, new, &old_root, &new_root, &proof),
                    "{old}->{new}"
                );
                // A history in which an old event was edited is not consistent with today.
                rewritten[(old - 1) as usize] = leaf_hash(b"edited");
                let fake_old = root(&Leaves(&rewritten), old);
                assert!(
                    !verify_consistency(old, new, &fake_old, &new_root, &proof),
                    "{old}->{new}"
                );
                rewritten[(old - 1) as usize] = all[(old - 1) as usize];
            }
        }
    }

    #[test]
    fn appending_in_pieces_gives_the_same_tree_as_computing_it_whole() {
        let all = leaves(70);
        let mut stored: std::collections::HashMap<NodeId, Hash> = Default::default();
        let mut size = 0u64;
        for chunk in [1usize, 2, 5, 8, 13, 1, 40] {
            let border_hashes: Vec<(NodeId, Hash)> = border(size)
                .into_iter()
                .map(|id| (id, stored[&id]))
                .collect();
            let (created, r) = append(
                size,
                &border_hashes,
                &all[size as usize..size as usize + chunk],
            );
            stored.extend(created);
            size += chunk as u64;
            assert_eq!(r, root(&Leaves(&all), size), "size {size}");
            let nodes = Nodes(stored.clone());
            assert_eq!(root(&nodes, size), r);
            for index in [0, size / 2, size - 1] {
                let needed = Needed::default();
                let _ = inclusion_proof(&needed, index, size).unwrap();
                assert!(needed.0.borrow().iter().all(|id| stored.contains_key(id)));
                let proof = inclusion_proof(&nodes, index, size).unwrap();
                assert_eq!(proof, inclusion_proof(&Leaves(&all), index, size).unwrap());
            }
            let old = (size / 3).max(1);
            assert_eq!(
                consistency_proof(&nodes, old, size).unwrap(),
                consistency_proof(&Leaves(&all), old, size).unwrap()
            );
        }
        assert_eq!(border(6), vec![(2, 0), (1, 2)]);
        assert_eq!(node_of(4, 6), Some((1, 2)));
        assert_eq!(node_of(4, 7), None);
    }

    #[test]
    fn a_compact_tree_has_the_root_of_the_whole_tree_at_every_size() {
        let all = leaves(70);
        let mut tree = CompactTree::new();
        assert_eq!(tree.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            tree.push(*leaf);
            assert_eq!(tree.size(), i as u64 + 1);
            assert_eq!(
                tree.root(),
                root(&Leaves(&all), i as u64 + 1),
                "size {}",
                i + 1
            );
        }
    }

    proptest! {
        #[test]
        fn any_altered_proof_hash_fails(size in 2u64..200, seed in any::<u64>(), bit in 0usize..256) {
            let all = leaves(size as usize);
            let index = seed % size;
            let r = root(&Leaves(&all), size);
            let mut proof = inclusion_proof(&Leaves(&all), index, size).unwrap();
            let which = (seed as usize / 7) % proof.len();
            proof[which][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_inclusion(index, size, &all[index as usize], &proof, &r));
        }
    }
}
