//! The gateway's unanchored receipts on disk, so a restarted gateway anchors what its
//! predecessor accepted: `<data dir>/receipts.journal`.
//!
//! An append-only log of length-prefixed CBOR records. Every receipt the gateway accepts is
//! appended with a sequence number *before* the caller gets the answer (one `write(2)`, no
//! fsync: a killed process loses nothing; the file is fsynced every anchorer tick, so a power
//! cut loses at most one tick). The anchorer writes a marker when it closes an epoch's batch
//! (`Closed`: the receipts up to a sequence number carry that epoch's label, fsynced before
//! the anchor transaction is sent) and when the batch is finished (`Done`: anchored, or
//! refused for good); finished batches are then compacted away. On start the log is read
//! back: closed batches keep their label (a batch whose anchor was mined just before a crash
//! is refused as `EpochAlreadyAnchored`, never paid twice), receipts of the batch that was
//! still open join the new open batch. A torn last record (a crash mid-write, before its
//! answer went out) is dropped.

use std::{
    fs::{File, OpenOptions},
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
};

use peerhost_protocol::{AnswerReceipt, EvmSignature, Owner, Receipt};
use serde::{Deserialize, Serialize};

/// Largest journal: past it receipts are still anchored but not journaled (a restart would
/// lose them), and counted.
const MAX_BYTES: u64 = 64 << 20;
/// Largest record (an answer receipt is at most about 130 KiB).
const MAX_RECORD: usize = 256 << 10;

/// A receipt the anchorer was handed, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Stored {
    /// The receipt of an answer, as its caller got it (so `GET /receipts/<id>` still serves
    /// it after a restart).
    Won {
        /// The owner of the function.
        owner: Owner,
        /// The answer's receipt.
        answer: Box<AnswerReceipt>,
    },
    /// An agreeing racer's receipt of a call it did not win.
    Assisted {
        /// The owner of the function.
        owner: Owner,
        /// The receipt.
        receipt: Receipt,
        /// The worker's chain signature.
        signature: EvmSignature,
    },
    /// A receipt of a call whose racers disagreed, for audit.
    Disputed {
        /// The receipt.
        receipt: Receipt,
        /// The worker's chain signature.
        signature: EvmSignature,
    },
}

/// One journal record.
#[derive(Debug, Serialize, Deserialize)]
enum Record {
    /// The lowest epoch a new batch may be labelled with (first record after compaction).
    Next(u64),
    /// A receipt handed to the anchorer.
    Input(u64, Box<Stored>),
    /// The batch labelled `epoch` closed with the receipts up to sequence number `last`.
    Closed {
        /// Its label.
        epoch: u64,
        /// Its last receipt's sequence number.
        last: u64,
    },
    /// The batch labelled `epoch` is finished.
    Done(u64),
}

/// Why the journal failed.
#[derive(Debug, thiserror::Error)]
#[error("receipt journal {path}: {source}")]
pub struct JournalError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// What the journal held when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// The lowest label a new batch may have.
    pub(crate) next_epoch: u64,
    /// Closed, unfinished batches, in order.
    pub(crate) closed: Vec<ClosedBatch>,
    /// Receipts of no closed batch, in order.
    pub(crate) open: Vec<(u64, Stored)>,
}

/// A batch the anchorer closed and had not finished.
#[derive(Debug)]
pub(crate) struct ClosedBatch {
    /// Its label.
    pub(crate) epoch: u64,
    /// The sequence number it closed after.
    pub(crate) last: u64,
    /// Its receipts, with their sequence numbers.
    pub(crate) inputs: Vec<(u64, Stored)>,
}

impl Recovered {
    /// The answer receipts among the recovered receipts.
    pub(crate) fn answers(&self) -> impl Iterator<Item = &AnswerReceipt> {
        let closed = self.closed.iter().flat_map(|batch| &batch.inputs);
        closed.chain(&self.open).filter_map(|(_, stored)| match stored {
            Stored::Won { answer, .. } => Some(answer.as_ref()),
            _ => None,
        })
    }
}

/// The journal file, open for appending.
#[derive(Debug)]
pub(crate) struct ReceiptJournal {
    path: PathBuf,
    file: File,
    len: u64,
    next_seq: u64,
    dirty: bool,
}

impl ReceiptJournal {
    /// Opens (or creates) the journal at `path`, reads what it holds and compacts it.
    pub(crate) fn open(path: &Path) -> Result<(Self, Recovered), JournalError> {
        let fail = |source| JournalError { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let bytes = match File::open(path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(fail)?;
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(fail(e)),
        };
        let (recovered, next_seq) = replay(&bytes);
        let len = rewrite(path, &recovered).map_err(fail)?;
        let file = OpenOptions::new().append(true).open(path).map_err(fail)?;
        let journal = Self { path: path.to_owned(), file, len, next_seq, dirty: false };
        Ok((journal, recovered))
    }

    /// Appends a receipt and returns its sequence number; `None` when the journal is full or
    /// the write failed (the receipt is then only in memory).
    pub(crate) fn append(&mut self, stored: Stored) -> Option<u64> {
        if self.len >= MAX_BYTES {
            return None;
        }
        let seq = self.next_seq;
        self.write(&Record::Input(seq, Box::new(stored))).ok()?;
        self.next_seq += 1;
        Some(seq)
    }

    /// Durably marks the batch labelled `epoch` closed after receipt `last`: its label holds
    /// across a restart.
    pub(crate) fn close(&mut self, epoch: u64, last: u64) -> std::io::Result<()> {
        self.write(&Record::Closed { epoch, last })?;
        self.sync()
    }

    /// Marks the batch labelled `epoch` finished (anchored or refused for good).
    pub(crate) fn done(&mut self, epoch: u64) -> std::io::Result<()> {
        self.write(&Record::Done(epoch))
    }

    /// Fsyncs what was appended since the last call.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Rewrites the journal without its finished batches, `next_epoch` first.
    pub(crate) fn compact(&mut self, next_epoch: u64) -> std::io::Result<()> {
        let bytes = std::fs::read(&self.path)?;
        let (mut recovered, _) = replay(&bytes);
        recovered.next_epoch = recovered.next_epoch.max(next_epoch);
        self.len = rewrite(&self.path, &recovered)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.dirty = false;
        Ok(())
    }

    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let bytes = frame(record);
        // One write per record: a record is whole or torn at the end, never interleaved.
        self.file.write_all(&bytes)?;
        self.len += bytes.len() as u64;
        self.dirty = true;
        Ok(())
    }
}

/// A record as it is written: its length (u32, big-endian), then its CBOR.
fn frame(record: &Record) -> Vec<u8> {
    let body = serde_cbor::to_vec(record).expect("journal records encode");
    let mut bytes = Vec::with_capacity(4 + body.len());
    bytes.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

/// Reads records until the end or the first torn one; returns the unfinished batches and
/// the next sequence number.
fn replay(mut bytes: &[u8]) -> (Recovered, u64) {
    let mut next_epoch = 0;
    let mut inputs: Vec<(u64, Stored)> = Vec::new();
    let mut closed: Vec<(u64, u64)> = Vec::new();
    let mut done = std::collections::HashSet::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        if len > MAX_RECORD || rest.len() < len {
            break;
        }
        let Ok(record) = serde_cbor::from_slice::<Record>(&rest[..len]) else { break };
        bytes = &rest[len..];
        match record {
            Record::Next(epoch) => next_epoch = next_epoch.max(epoch),
            Record::Input(seq, stored) => inputs.push((seq, *stored)),
            Record::Closed { epoch, last } => {
                next_epoch = next_epoch.max(epoch + 1);
                closed.push((epoch, last));
            }
            Record::Done(epoch) => {
                done.insert(epoch);
            }
        }
    }
    let last_closed = closed.iter().map(|(_, last)| last + 1).max().unwrap_or(0);
    let next_seq = inputs.iter().map(|(seq, _)| seq + 1).max().unwrap_or(0).max(last_closed);
    inputs.sort_by_key(|(seq, _)| *seq);
    let mut inputs = inputs.into_iter().peekable();
    let mut recovered = Recovered { next_epoch, ..Recovered::default() };
    for (epoch, last) in closed {
        let mut batch = ClosedBatch { epoch, last, inputs: Vec::new() };
        while let Some(input) = inputs.next_if(|(seq, _)| *seq <= last) {
            batch.inputs.push(input);
        }
        if !done.contains(&epoch) {
            recovered.closed.push(batch);
        }
    }
    recovered.open = inputs.collect();
    (recovered, next_seq)
}

/// Writes `recovered` as a fresh journal at `path` (atomically); returns its length.
fn rewrite(path: &Path, recovered: &Recovered) -> std::io::Result<u64> {
    let mut bytes = frame(&Record::Next(recovered.next_epoch));
    for batch in &recovered.closed {
        for (seq, stored) in &batch.inputs {
            bytes.extend(frame(&Record::Input(*seq, Box::new(stored.clone()))));
        }
        bytes.extend(frame(&Record::Closed { epoch: batch.epoch, last: batch.last }));
    }
    for (seq, stored) in &recovered.open {
        bytes.extend(frame(&Record::Input(*seq, Box::new(stored.clone()))));
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&bytes)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use peerhost_protocol::{Keccak, NodeSecret, RequestId};

    use super::*;

    fn disputed(n: u8) -> Stored {
        let receipt = Receipt {
            request_id: RequestId([n; 32]),
            result_hash: Keccak([n; 32]),
            worker: NodeSecret::from_bytes(&[n; 32]).public(),
            fuel_used: u64::from(n),
            bundle: peerhost_protocol::BlobHash([n; 32]),
        };
        Stored::Disputed { receipt, signature: EvmSignature([n; 65]) }
    }

    fn seqs(inputs: &[(u64, Stored)]) -> Vec<u64> {
        inputs.iter().map(|(seq, _)| *seq).collect()
    }

    #[test]
    fn unfinished_batches_survive_reopening_and_finished_ones_are_compacted_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipts.journal");
        {
            let (mut journal, recovered) = ReceiptJournal::open(&path).unwrap();
            assert!(recovered.closed.is_empty() && recovered.open.is_empty());
            for n in 0..3 {
                assert_eq!(journal.append(disputed(n)), Some(u64::from(n)));
            }
            journal.close(7, 1).unwrap();
            journal.append(disputed(3)).unwrap();
            journal.close(8, 3).unwrap();
            journal.done(7).unwrap();
            journal.append(disputed(4)).unwrap();
        }
        let (mut journal, recovered) = ReceiptJournal::open(&path).unwrap();
        assert_eq!(recovered.next_epoch, 9);
        assert_eq!(recovered.closed.len(), 1);
        assert_eq!((recovered.closed[0].epoch, recovered.closed[0].last), (8, 3));
        assert_eq!(seqs(&recovered.closed[0].inputs), [2, 3]);
        assert_eq!(seqs(&recovered.open), [4]);
        assert_eq!(recovered.open[0].1, disputed(4));
        // Sequence numbers go on from the last one; a compaction keeps the unfinished.
        assert_eq!(journal.append(disputed(5)), Some(5));
        journal.done(8).unwrap();
        journal.compact(12).unwrap();
        drop(journal);
        let (_, recovered) = ReceiptJournal::open(&path).unwrap();
        assert_eq!(recovered.next_epoch, 12);
        assert!(recovered.closed.is_empty());
        assert_eq!(seqs(&recovered.open), [4, 5]);
    }

    #[test]
    fn a_torn_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipts.journal");
        {
            let (mut journal, _) = ReceiptJournal::open(&path).unwrap();
            journal.append(disputed(1)).unwrap();
            journal.append(disputed(2)).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let (mut journal, recovered) = ReceiptJournal::open(&path).unwrap();
        assert_eq!(seqs(&recovered.open), [0]);
        assert_eq!(journal.append(disputed(3)), Some(1));
        drop(journal);
        let (_, recovered) = ReceiptJournal::open(&path).unwrap();
        assert_eq!(seqs(&recovered.open), [0, 1]);
    }
}
