//! Inserts of concurrent requests made one: every insert is a part that
//! ClickHouse must later merge, and an HTTP call of its own, so a thousand
//! clients each sending a small chunk would be a thousand inserts a second.
//! Requests hand their chunks (already in RowBinary) to one task, which
//! takes everything waiting at once, asks which of those chunk ids are
//! stored whole already, inserts the rest with one insert per table and
//! column list, and answers each chunk once its insert has answered. With
//! one request waiting it is inserted at once (no timer); under load, the
//! requests that arrive during an insert make the next one.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::client::{CallError, Http, literal};
use super::rowbinary::Reader;
use crate::schema_map::hex;

/// One chunk to insert.
pub struct Job {
    /// `db.table`, quoted.
    pub table: String,
    /// The insert's column list, quoted and comma-separated.
    pub columns: String,
    /// The writer's cluster.
    pub cluster_id: String,
    /// The chunk id, when it has one (then it may be stored already).
    pub chunk_id: Option<[u8; 16]>,
    /// Its rows.
    pub rows: u64,
    /// Its rows in RowBinary.
    pub body: Vec<u8>,
}

/// What became of a chunk: stored now (false) or found stored whole
/// (true), or the failure of its insert.
pub type Outcome = Result<bool, Arc<CallError>>;

type Request = (Vec<Job>, oneshot::Sender<Vec<Outcome>>);

/// The handle requests send their chunks through.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Request>,
}

/// Chunk ids asked about in one query.
const IDS_PER_QUERY: usize = 500;

/// Most bytes of RowBinary one round takes; what is waiting beyond it makes
/// the next round.
const MAX_ROUND_BYTES: usize = 64 << 20;

impl Batcher {
    /// Starts the task that inserts through `http` (it ends when every
    /// handle is dropped).
    pub fn start(http: Http) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(http, rx));
        Self { tx }
    }

    /// Inserts `jobs` (all in the same round), answering one outcome per
    /// job in order.
    pub async fn insert(&self, jobs: Vec<Job>) -> Vec<Outcome> {
        let n = jobs.len();
        let (done, answer) = oneshot::channel();
        let stopped = || (0..n).map(|_| Err(Arc::new(stopped_error()))).collect();
        if self.tx.send((jobs, done)).is_err() {
            return stopped();
        }
        answer.await.unwrap_or_else(|_| stopped())
    }
}

fn stopped_error() -> CallError {
    CallError::Unreachable { url: String::new(), reason: "the collector is stopping".into() }
}

async fn run(http: Http, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut round = vec![first];
        let mut bytes: usize = round[0].0.iter().map(|j| j.body.len()).sum();
        while bytes < MAX_ROUND_BYTES {
            match rx.try_recv() {
                Ok(request) => {
                    bytes += request.0.iter().map(|j| j.body.len()).sum::<usize>();
                    round.push(request);
                }
                Err(_) => break,
            }
        }
        let outcomes = insert_round(&http, round.iter().map(|(jobs, _)| jobs.as_slice())).await;
        for ((_, done), outcome) in round.into_iter().zip(outcomes) {
            let _ = done.send(outcome);
        }
    }
}

/// One round: the stored-whole check per table, then one insert per table
/// and column list. Outcomes per request, per job.
async fn insert_round<'a>(http: &Http, requests: impl Iterator<Item = &'a [Job]> + Clone) -> Vec<Vec<Outcome>> {
    let jobs: Vec<&Job> = requests.clone().flatten().collect();
    let mut outcome: Vec<Option<Outcome>> = vec![None; jobs.len()];
    let stored = stored_whole(http, &jobs, &mut outcome).await;
    // Stored whole before: not inserted again. Twice in this round: the
    // second copy is answered as the first one is (stored, or failed).
    let mut first_copy: HashMap<(&str, &str, [u8; 16]), usize> = HashMap::new();
    let mut copy_of: Vec<Option<usize>> = vec![None; jobs.len()];
    for (i, j) in jobs.iter().enumerate() {
        let Some(id) = j.chunk_id.filter(|_| outcome[i].is_none()) else { continue };
        let key = (j.table.clone(), j.cluster_id.clone(), hex(&id));
        if stored.get(&key).is_some_and(|&rows| rows >= j.rows) {
            outcome[i] = Some(Ok(true));
            continue;
        }
        match first_copy.entry((j.table.as_str(), j.cluster_id.as_str(), id)) {
            Entry::Occupied(first) => copy_of[i] = Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    // One insert per table and column list.
    let mut groups: Vec<((&str, &str), Vec<usize>)> = Vec::new();
    for (i, j) in jobs.iter().enumerate().filter(|(i, _)| outcome[*i].is_none() && copy_of[*i].is_none()) {
        let key = (j.table.as_str(), j.columns.as_str());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    for ((table, columns), members) in &groups {
        let mut body = Vec::with_capacity(members.iter().map(|&i| jobs[i].body.len()).sum());
        for &i in members {
            body.extend_from_slice(&jobs[i].body);
        }
        let insert = format!("INSERT INTO {table} ({columns}) FORMAT RowBinary");
        let result = http.insert(&insert, body).await.map(|()| false).map_err(Arc::new);
        for &i in members {
            outcome[i] = Some(result.clone());
        }
    }
    for (i, first) in copy_of.iter().enumerate() {
        if let Some(first) = *first {
            outcome[i] = Some(match &outcome[first] {
                Some(Ok(_)) => Ok(true),
                Some(Err(e)) => Err(e.clone()),
                None => Err(Arc::new(stopped_error())),
            });
        }
    }
    let mut outcomes = outcome.into_iter().map(|o| o.unwrap_or_else(|| Err(Arc::new(stopped_error()))));
    requests.map(|jobs| outcomes.by_ref().take(jobs.len()).collect()).collect()
}

/// Rows stored of each (table, cluster, hex chunk id) of the round's jobs
/// that has an id; a failed check fails its table's jobs in `outcome`.
async fn stored_whole(
    http: &Http,
    jobs: &[&Job],
    outcome: &mut [Option<Outcome>],
) -> HashMap<(String, String, String), u64> {
    let mut stored = HashMap::new();
    let mut tables: Vec<&str> = jobs.iter().map(|j| j.table.as_str()).collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables {
        let ids: Vec<String> = jobs
            .iter()
            .filter(|j| j.table == table)
            .filter_map(|j| j.chunk_id.map(|id| format!("({}, {})", literal(&j.cluster_id), literal(&hex(&id)))))
            .collect();
        // A few hundred ids a query: ClickHouse refuses a query text past
        // its max_query_size (256 KiB), and a round may hold thousands.
        for ids in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT _cluster_id, _chunk_id, toUInt64(uniqExact(_row)) FROM {table} WHERE _batch = 0 \
                 AND (_cluster_id, _chunk_id) IN ({}) GROUP BY _cluster_id, _chunk_id FORMAT RowBinary",
                ids.join(", ")
            );
            match http.query(&sql, &[]).await {
                Ok(answer) => {
                    let mut r = Reader::new(&answer);
                    while !r.is_empty() {
                        let (Ok(cluster), Ok(id), Ok(rows)) = (r.string(), r.string(), r.u64()) else { break };
                        let (cluster, id) = (String::from_utf8_lossy(cluster), String::from_utf8_lossy(id));
                        stored.insert((table.to_owned(), cluster.into_owned(), id.into_owned()), rows);
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for (i, j) in jobs.iter().enumerate() {
                        if j.table == table {
                            outcome[i] = Some(Err(e.clone()));
                        }
                    }
                    break;
                }
            }
        }
    }
    stored
}
