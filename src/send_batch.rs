//! Group commit of sends (issue 19). Every text send of the instance goes through one
//! bounded queue; a few writer threads (`CHAAT_SEND_BATCH_WRITERS`) each take what is
//! waiting (at most `CHAAT_SEND_BATCH`), write it with one statement in one transaction
//! (`models::message_batch::send_all`), publish the new messages in seq order and only
//! then answer each request. A send that arrives while every writer is in flight waits
//! for the next batch, so under load many sends share one commit (one WAL flush, one
//! round trip); an idle instance writes a lone send at once.
//!
//! Bounds: a full queue (16 batches' worth) answers 503 at once, and a send that waited
//! longer than a request waits for a database connection (`CHAAT_DB_WAIT_MS`) is answered
//! 503 unwritten, like the pool's. A batch that failed because the database is away or
//! too slow wrote nothing, or (a connection lost during the commit) nobody knows: each of
//! its sends gets a 503 that the browser may repeat with the same `client_id` (stored
//! once either way). Any other error of the statement wrote nothing, so its sends are
//! written again one by one: only a send that fails alone fails. Then the writer goes on
//! with the next batch. Sends with files stay on their own path (`uploads`): their
//! transaction spans the upload.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::config::Settings;
use crate::db::{self, DbPool, IsUnavailable};
use crate::error::AppError;
use crate::live::Hub;
use crate::models::message_batch::{self, InvalidText, Outgoing};
use crate::models::messages::{MessageKind, NewMessage, SendOutcome};

/// Batches' worth of sends the queue holds; one more is refused with 503.
const QUEUED_BATCHES: usize = 16;

type Answer = Result<SendOutcome, AppError>;

struct Job {
    outgoing: Outgoing,
    arrived: Instant,
    answer: oneshot::Sender<Answer>,
}

/// The instance's way to send a text message. Cheap to clone.
#[derive(Clone)]
pub struct SendBatcher {
    /// `None`: batching is off (`CHAAT_SEND_BATCH=0`), each send is its own transaction.
    queue: Option<SyncSender<Job>>,
    /// Sends queued and not yet taken by a writer.
    waiting: Arc<AtomicUsize>,
    pool: DbPool,
    hub: Arc<Hub>,
}

impl SendBatcher {
    /// Starts the writer threads (none with `send_batch` 0). They end once every clone
    /// of the batcher is gone (the server stopped).
    pub fn start(pool: DbPool, hub: Arc<Hub>, settings: &Settings) -> std::io::Result<Self> {
        let waiting = Arc::new(AtomicUsize::new(0));
        let max = settings.send_batch;
        if max == 0 {
            return Ok(SendBatcher { queue: None, waiting, pool, hub });
        }
        let (queue, jobs) = mpsc::sync_channel(max.saturating_mul(QUEUED_BATCHES));
        let jobs = Arc::new(Mutex::new(jobs));
        let wait = Duration::from_millis(settings.db_wait_ms);
        for n in 0..settings.send_batch_writers.max(1) {
            let writer = Writer { jobs: jobs.clone(), waiting: waiting.clone(), pool: pool.clone(), hub: hub.clone(), max, wait };
            std::thread::Builder::new().name(format!("chaat-send-{n}")).spawn(move || writer.run())?;
        }
        Ok(SendBatcher { queue: Some(queue), waiting, pool, hub })
    }

    /// Stores the message (with every other send waiting now) and publishes it; answers
    /// after the commit. `Unavailable` (503) when the queue is full, the send waited too
    /// long, or its batch failed: nothing of it was stored, or (a connection lost during
    /// the commit) nobody knows, and a repeat with the same `client_id` is stored once.
    pub async fn send(&self, outgoing: Outgoing) -> Answer {
        let Some(queue) = &self.queue else { return self.send_alone(outgoing).await };
        let (answer, answered) = oneshot::channel();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = queue.try_send(Job { outgoing, arrived: Instant::now(), answer }) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            let why = match e {
                TrySendError::Full(_) => "too many messages are waiting to be written",
                TrySendError::Disconnected(_) => "the message writers have stopped",
            };
            return Err(AppError::Unavailable(why.into()));
        }
        answered.await.unwrap_or_else(|_| Err(AppError::Unavailable("the message writer stopped".into())))
    }

    /// Sends queued and not yet taken into a batch (for tests and logs).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Batching off: the send of before, in its own transaction.
    async fn send_alone(&self, outgoing: Outgoing) -> Answer {
        let outcome = db::run(&self.pool, move |conn| {
            let Outgoing { chat_id, message_id, sender, text, client_id, reply_to } = outgoing;
            NewMessage { chat_id, sender, text: text.as_str(), client_id, kind: MessageKind::Text, reply_to }
                .send_as(conn, message_id)
                .map_err(AppError::from)
        })
        .await?;
        if let SendOutcome::Sent(message) = &outcome {
            self.hub.publish(message.clone());
        }
        Ok(outcome)
    }
}

struct Writer {
    jobs: Arc<Mutex<Receiver<Job>>>,
    waiting: Arc<AtomicUsize>,
    pool: DbPool,
    hub: Arc<Hub>,
    max: usize,
    wait: Duration,
}

impl Writer {
    fn run(self) {
        while let Some(batch) = self.next_batch() {
            self.write(batch);
        }
    }

    /// Waits for a send, then takes whatever else is waiting, up to the batch size.
    /// `None` once the batcher is gone.
    fn next_batch(&self) -> Option<Vec<Job>> {
        let mut batch = {
            // Held while waiting: the other writers wait here for their turn, which
            // comes when this one has its batch.
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let first = jobs.recv().ok()?;
            let mut batch = vec![first];
            while batch.len() < self.max {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        self.waiting.fetch_sub(batch.len(), Ordering::Relaxed);
        // Abandoned requests (the client went away) are not written: a browser repeats
        // an unanswered send with its client_id anyway. Sends that waited longer than a
        // request waits for a connection are refused unwritten, like the pool's.
        batch.retain(|job| !job.answer.is_closed());
        let (late, batch): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|job| job.arrived.elapsed() > self.wait);
        for job in late {
            let _ = job.answer.send(Err(AppError::Unavailable("the message waited too long to be written".into())));
        }
        Some(batch)
    }

    fn write(&self, batch: Vec<Job>) {
        if batch.is_empty() {
            return;
        }
        // The oldest send waits for a connection no longer than a request would in all.
        let oldest = batch.iter().map(|job| job.arrived).min().unwrap_or_else(Instant::now);
        let wait = self.wait.saturating_sub(oldest.elapsed());
        let (outgoing, answers): (Vec<Outgoing>, Vec<oneshot::Sender<Answer>>) =
            batch.into_iter().map(|job| (job.outgoing, job.answer)).unzip();
        match self.commit(&outgoing, wait) {
            Ok(outcomes) => self.answer(answers, outcomes),
            // Alone, the send gets its own error (503, or 500 for the unexpected).
            Err(e) if answers.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(e));
                }
            }
            // The database is away, too slow or the connection was lost (perhaps during
            // the commit: nobody knows whether it happened): each send is answered 503,
            // and a browser's repeat with the same client_id is stored once.
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, sends = answers.len(), "a batch of sends failed: each is answered 503");
                for answer in answers {
                    let _ = answer.send(Err(AppError::Unavailable("the batch of this message could not be written".into())));
                }
            }
            // Anything else was the statement's own error, so nothing was written: each
            // send is written again alone, and only one that fails by itself fails (a
            // deadlock with another transaction, or a send the database refuses in a way
            // no guard foresaw, fails no other send).
            Err(e) => {
                tracing::warn!(error = ?e, sends = answers.len(), "a batch of sends failed: each is written alone");
                for (one, answer) in outgoing.iter().zip(answers) {
                    match self.commit(std::slice::from_ref(one), self.wait) {
                        Ok(outcomes) => self.answer(vec![answer], outcomes),
                        Err(e) => {
                            let _ = answer.send(Err(e));
                        }
                    }
                }
            }
        }
    }

    /// Writes the sends in one statement (one transaction).
    fn commit(&self, outgoing: &[Outgoing], wait: Duration) -> Result<Vec<Result<SendOutcome, InvalidText>>, AppError> {
        db::run_here_within(&self.pool, wait, |conn| message_batch::send_all(conn, outgoing).map_err(AppError::from))
    }

    /// After the commit: publishes the new messages, then answers each request.
    fn answer(&self, answers: Vec<oneshot::Sender<Answer>>, outcomes: Vec<Result<SendOutcome, InvalidText>>) {
        // In the batch's order, so each chat's streams get its messages in seq order.
        for outcome in &outcomes {
            if let Ok(SendOutcome::Sent(message)) = outcome {
                self.hub.publish(message.clone());
            }
        }
        for (answer, outcome) in answers.into_iter().zip(outcomes) {
            let _ = answer.send(outcome.map_err(AppError::internal));
        }
    }
}
