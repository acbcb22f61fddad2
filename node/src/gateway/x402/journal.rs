//! The payment journal: every accepted payment, on disk, before its function runs.
//!
//! A payment `(payer, nonce)` moves `Accepted → Settled → Answered → Delivered`. `Accepted`
//! and `Delivered` are committed durably (redb, fsync); `Settled` and `Answered` reach the disk
//! with the next durable commit, because a crash that loses them loses nothing: the chain still
//! shows the settlement of an `Accepted` payment, and a payment whose answer is lost runs its
//! function again. So after a crash the gateway knows whether to check the chain for a
//! settlement, run the function, or hand back the stored answer — and a payment that bought a
//! delivered response is never served again.

use std::path::Path;

use alloy::primitives::{Address, B256};
use redb::{Database, Durability, ReadableDatabase as _, TableDefinition};
use serde::{Deserialize, Serialize};

const PAYMENTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("payments");

/// A payment's key: payer ‖ nonce.
pub(crate) type Key = [u8; 52];

/// The key of `(from, nonce)`.
pub(crate) fn key(from: Address, nonce: B256) -> Key {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(from.as_slice());
    k[20..].copy_from_slice(nonce.as_slice());
    k
}

/// One payment's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// `owner/project/function` the payment was accepted for.
    pub resource: String,
    /// The authorization's EIP-712 digest (a retry must carry the same authorization).
    pub digest: [u8; 32],
    /// How far it got.
    pub state: State,
}

/// How far a payment got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum State {
    /// Verified and about to settle; whether it did is on the chain.
    Accepted,
    /// Settled in transaction `tx`; the function may run.
    Settled {
        /// The settlement transaction.
        tx: [u8; 32],
    },
    /// The function answered; the answer is kept until it is delivered.
    Answered {
        /// The settlement transaction.
        tx: [u8; 32],
        /// The answer: request id, worker, response and receipt.
        answer: Box<crate::gateway::Answer>,
    },
    /// The answer went out: the payment is spent.
    Delivered {
        /// The settlement transaction.
        tx: [u8; 32],
    },
}

/// Why the journal failed (disk, corruption): the gateway answers 503, never serves unpaid.
#[derive(Debug, thiserror::Error)]
#[error("payment journal: {message}")]
pub struct JournalError {
    message: String,
    locked: bool,
}

impl JournalError {
    /// Another process (or a dying gateway in this one) has the journal open.
    pub fn is_locked(&self) -> bool {
        self.locked
    }
}

fn fail(e: impl std::fmt::Display) -> JournalError {
    JournalError { message: e.to_string(), locked: false }
}

/// The journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    db: Database,
}

impl Journal {
    /// Opens (or creates) the journal at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let db = Database::create(path).map_err(|e| JournalError {
            locked: matches!(e, redb::DatabaseError::DatabaseAlreadyOpen),
            message: e.to_string(),
        })?;
        let tx = db.begin_write().map_err(fail)?;
        tx.open_table(PAYMENTS).map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(Self { db })
    }

    /// The record of `key`.
    pub(crate) fn get(&self, key: &Key) -> Result<Option<Entry>, JournalError> {
        let tx = self.db.begin_read().map_err(fail)?;
        let table = tx.open_table(PAYMENTS).map_err(fail)?;
        let Some(bytes) = table.get(key.as_slice()).map_err(fail)? else { return Ok(None) };
        serde_cbor::from_slice(bytes.value()).map(Some).map_err(fail)
    }

    /// Stores `entry` durably.
    pub(crate) fn put(&self, key: &Key, entry: &Entry) -> Result<(), JournalError> {
        self.write(key, entry, Durability::Immediate)
    }

    /// Records `entry` under `key`, on disk with the next [`Journal::put`] (or lost in a crash
    /// before it).
    pub(crate) fn put_lazily(&self, key: &Key, entry: &Entry) -> Result<(), JournalError> {
        self.write(key, entry, Durability::None)
    }

    fn write(&self, key: &Key, entry: &Entry, durability: Durability) -> Result<(), JournalError> {
        let bytes = serde_cbor::to_vec(entry).map_err(fail)?;
        let mut tx = self.db.begin_write().map_err(fail)?;
        tx.set_durability(durability).map_err(fail)?;
        {
            let mut table = tx.open_table(PAYMENTS).map_err(fail)?;
            table.insert(key.as_slice(), bytes.as_slice()).map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Forgets `key` (a payment that never settled).
    pub(crate) fn remove(&self, key: &Key) -> Result<(), JournalError> {
        let tx = self.db.begin_write().map_err(fail)?;
        {
            let mut table = tx.open_table(PAYMENTS).map_err(fail)?;
            table.remove(key.as_slice()).map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payments.redb");
        let k = key(Address::repeat_byte(1), B256::repeat_byte(2));
        let entry = Entry { resource: "o/p/f".into(), digest: [3; 32], state: State::Accepted };
        {
            let journal = Journal::open(&path).unwrap();
            assert_eq!(journal.get(&k).unwrap(), None);
            journal.put(&k, &entry).unwrap();
        }
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.get(&k).unwrap(), Some(entry));
        journal.remove(&k).unwrap();
        assert_eq!(journal.get(&k).unwrap(), None);
    }
}
