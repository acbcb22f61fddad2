//! Merkle trees in the shape the coordinator contract verifies: keccak256 over each pair in
//! sorted order (what OpenZeppelin's `MerkleProof` expects, so proofs carry no left/right
//! bits) and an odd node carried up a level unpaired. Gateways build one per epoch over their
//! workers' leaves, and one per worker over its receipts.

use crate::{Keccak, keccak256_parts};

/// A tree kept whole, so proofs for every leaf come cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level is the root alone.
    levels: Vec<Vec<Keccak>>,
}

impl MerkleTree {
    /// Builds the tree over `leaves` in their order; `None` when there are none.
    pub fn new(leaves: Vec<Keccak>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while let Some(level) = levels.last().filter(|level| level.len() > 1) {
            let up = level
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => hash_pair(a, b),
                    [odd] => *odd,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(up);
        }
        Some(Self { levels })
    }

    /// The root.
    pub fn root(&self) -> Keccak {
        self.levels.last().and_then(|top| top.first()).copied().expect("a tree has a root")
    }

    /// Number of leaves (at least one).
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The proof of the leaf at `index`: its siblings from the bottom up.
    pub fn proof(&self, mut index: usize) -> Option<Vec<Keccak>> {
        if index >= self.len() {
            return None;
        }
        let mut path = Vec::with_capacity(self.levels.len());
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(index ^ 1) {
                path.push(*sibling);
            }
            index /= 2;
        }
        Some(path)
    }
}

/// Whether `proof` leads from `leaf` to `root` (what the contract computes).
pub fn verify(root: &Keccak, leaf: &Keccak, proof: &[Keccak]) -> bool {
    let computed = proof.iter().fold(*leaf, |node, sibling| hash_pair(&node, sibling));
    &computed == root
}

/// keccak256 of the two nodes, the smaller first.
pub fn hash_pair(a: &Keccak, b: &Keccak) -> Keccak {
    let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    keccak256_parts(&[&lo.0, &hi.0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keccak256;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Keccak> {
        (0..n).map(|i| keccak256(&i.to_le_bytes())).collect()
    }

    #[test]
    fn single_leaf_is_its_own_root_with_an_empty_proof() {
        let tree = MerkleTree::new(leaves(1)).unwrap();
        assert_eq!(tree.root(), leaves(1)[0]);
        assert_eq!(tree.proof(0).unwrap(), Vec::<Keccak>::new());
        assert!(MerkleTree::new(vec![]).is_none());
    }

    #[test]
    fn three_leaves_carry_the_odd_one_up() {
        let l = leaves(3);
        let tree = MerkleTree::new(l.clone()).unwrap();
        assert_eq!(tree.root(), hash_pair(&hash_pair(&l[0], &l[1]), &l[2]));
        assert_eq!(tree.proof(2).unwrap(), vec![hash_pair(&l[0], &l[1])]);
        assert_eq!(tree.proof(3), None);
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_no_other_does(n in 1usize..80, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let tree = MerkleTree::new(l.clone()).unwrap();
            let i = pick.index(n);
            let proof = tree.proof(i).unwrap();
            prop_assert!(verify(&tree.root(), &l[i], &proof));
            prop_assert!(!verify(&tree.root(), &keccak256(b"stranger"), &proof));
            prop_assert!(proof.len() <= (usize::BITS - n.leading_zeros()) as usize);
        }
    }
}
