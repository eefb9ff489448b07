package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/invitebatch/invitebatch/batch"
)

// A checkpoint is a journal whose first line is the header
//
//	invitebatch-checkpoint 2 run=<run id> started=<RFC3339> sha256=<hex of the input> command=run
//	  customer=<lower-cased> backend=<backend id> email_column=<n> domain=<a,b> resend_after=<duration>
//	  max_mails=<n> check_each=<bool>
//
// (on one line: the run's identity, see RunIdentity). Version 1 headers,
// of earlier versions, hold only sha256, run and started; they still load,
// and differ from every identity.
//
// followed by
//
//	row <n> <outcome word> <reason, strconv.Quote'd>   the final outcome of row n
//	finished                                           the run finished
//	resumed started=<RFC3339>                          a later run took over
//
// A later row line overrides an earlier one for the same row.

const checkpointMagic = "invitebatch-checkpoint"

// maxCheckpointRow bounds row numbers so that a damaged file cannot make the
// loader allocate without limit (a var so the fuzz tests can lower it).
var maxCheckpointRow = 1 << 28

// maxReason bounds the reason kept for a row, in bytes before quoting.
const maxReason = 2048

// CheckpointState is what a checkpoint file says about a run. Outcomes are
// kept compactly: one byte per row, plus the reasons of the rows that have
// one.
type CheckpointState struct {
	InputSHA256 string // hex SHA-256 of the input file's content
	version     int
	identity    map[string]string // the header's identity fields (version 2)
	RunID       string
	Started     time.Time // when the run that created the checkpoint started
	Finished    bool      // a run finished and none was resumed since
	// FinishedBefore: a run of this checkpoint finished at some point, so
	// an unfinished run since is a rerun of the failed rows that was
	// interrupted in its turn.
	FinishedBefore bool

	outcomes []batch.Outcome // indexed by row; [0] unused
	// Reasons are interned: a million rows share a handful of distinct
	// reasons ("this tool emailed it on ..."), so each row keeps the index
	// of its reason in reasonList (0: none), not a string of its own.
	reasonIdx  []uint32 // parallel to outcomes, grown lazily
	reasonList []string // [0] is ""
	reasonIDs  map[string]uint32
	counts     [256]int // rows per outcome, OutcomeNone excepted
	lines      int      // complete lines in the file when loaded
}

// Outcome returns the final outcome recorded for row (OutcomeNone if none)
// and its reason.
func (s *CheckpointState) Outcome(row int) (batch.Outcome, string) {
	if row <= 0 || row >= len(s.outcomes) {
		return batch.OutcomeNone, ""
	}
	return s.outcomes[row], s.reason(row)
}

// Rows returns the highest row with a recorded outcome (0 if none).
func (s *CheckpointState) Rows() int {
	return max(len(s.outcomes)-1, 0)
}

// Count returns how many rows have outcome o. Count(OutcomeNone) counts the
// rows up to Rows() without an outcome.
func (s *CheckpointState) Count(o batch.Outcome) int {
	if o != batch.OutcomeNone {
		return s.counts[o]
	}
	n := s.Rows()
	for _, c := range s.counts {
		n -= c
	}
	return n
}

// HasFailed reports whether any row's outcome is failed.
func (s *CheckpointState) HasFailed() bool { return s.counts[batch.Failed] > 0 }

func (s *CheckpointState) set(row int, o batch.Outcome, reason string) {
	if row >= len(s.outcomes) {
		s.outcomes = append(s.outcomes, make([]batch.Outcome, row+1-len(s.outcomes))...)
	}
	if old := s.outcomes[row]; old != batch.OutcomeNone {
		s.counts[old]--
	}
	s.outcomes[row] = o
	s.counts[o]++
	s.setReason(row, reason)
}

func (s *CheckpointState) reason(row int) string {
	if row >= len(s.reasonIdx) {
		return ""
	}
	return s.reasonList[s.reasonIdx[row]]
}

func (s *CheckpointState) setReason(row int, reason string) {
	if reason == "" && row >= len(s.reasonIdx) {
		return
	}
	id, ok := s.reasonIDs[reason]
	if !ok {
		if s.reasonIDs == nil {
			s.reasonList = []string{""}
			s.reasonIDs = map[string]uint32{"": 0}
		}
		id = uint32(len(s.reasonList))
		s.reasonList = append(s.reasonList, reason)
		s.reasonIDs[reason] = id
	}
	if row >= len(s.reasonIdx) {
		s.reasonIdx = append(s.reasonIdx, make([]uint32, max(row+1, len(s.outcomes))-len(s.reasonIdx))...)
	}
	s.reasonIdx[row] = id
}

// LoadCheckpoint reads the checkpoint at path without locking or changing it.
// It returns a nil state and a nil error if there is no such file. A torn
// final line is ignored; any other damage is an error (a *CorruptError).
func LoadCheckpoint(path string) (*CheckpointState, error) {
	s := &CheckpointState{outcomes: make([]batch.Outcome, 1)}
	empty := false
	opts := JournalOptions{ReadOnly: true, onOpen: func(f *os.File) {
		fi, err := f.Stat()
		empty = err == nil && fi.Size() == 0
	}}
	j, err := OpenJournal(path, opts, s.apply)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	if s.lines == 0 {
		if empty {
			// Made by Lock (it creates the file it locks) for a run
			// that has not written its header yet, or stopped before.
			// The header is written to a new file renamed over this one,
			// so the file read here stays empty.
			return nil, j.Close()
		}
		return nil, fmt.Errorf("load checkpoint: %s: no header", path)
	}
	return s, j.Close()
}

// apply updates s with one line of the file.
func (s *CheckpointState) apply(lineNo int, p []byte) error {
	s.lines = lineNo
	if lineNo == 1 {
		return s.parseHeader(p)
	}
	switch {
	case bytes.HasPrefix(p, []byte("row ")):
		row, o, reason, err := parseRowRecord(p[len("row "):])
		if err != nil {
			return err
		}
		s.set(row, o, reason)
		s.Finished = false
	case string(p) == "finished":
		s.Finished, s.FinishedBefore = true, true
	case bytes.HasPrefix(p, []byte("resumed ")):
		s.Finished = false
	default:
		return errors.New("unknown checkpoint record")
	}
	return nil
}

func (s *CheckpointState) parseHeader(p []byte) error {
	f := strings.Split(string(p), " ")
	if len(f) < 2 || f[0] != checkpointMagic {
		return errors.New("not a checkpoint file")
	}
	switch f[1] {
	case "1":
		s.version = 1
	case "2":
		s.version = 2
		s.identity = make(map[string]string, len(identityFields))
	default:
		return fmt.Errorf("unsupported checkpoint version %q", f[1])
	}
	var ok [3]bool
	for _, kv := range f[2:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "sha256":
			s.InputSHA256, ok[0] = v, v != ""
			if s.identity != nil {
				s.identity[k] = v
			}
		case "run":
			s.RunID, ok[1] = v, v != ""
		case "started":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("bad checkpoint start time: %w", err)
			}
			s.Started, ok[2] = t, true
		default:
			if s.identity == nil {
				continue // version 1 had no other fields
			}
			if _, dup := s.identity[k]; dup || k == "" {
				return fmt.Errorf("bad checkpoint header field %q", k)
			}
			s.identity[k] = v
		}
	}
	if ok != [3]bool{true, true, true} {
		return errors.New("incomplete checkpoint header")
	}
	return nil
}

// parseRowRecord parses "<n> <outcome word> <quoted reason>".
func parseRowRecord(p []byte) (row int, o batch.Outcome, reason string, err error) {
	i := bytes.IndexByte(p, ' ')
	if i < 0 {
		return 0, 0, "", errors.New("malformed row record")
	}
	n, ok := parseNonNegative(p[:i])
	if !ok || n == 0 || n > int64(maxCheckpointRow) {
		return 0, 0, "", fmt.Errorf("bad row number %q", p[:i])
	}
	p = p[i+1:]
	i = bytes.IndexByte(p, ' ')
	if i < 0 {
		return 0, 0, "", errors.New("malformed row record")
	}
	o, ok = batch.ParseOutcome(string(p[:i]))
	if !ok {
		return 0, 0, "", fmt.Errorf("unknown outcome %q", p[:i])
	}
	q := p[i+1:]
	if len(q) == 2 && q[0] == '"' && q[1] == '"' { // the common case
		return int(n), o, "", nil
	}
	reason, err = strconv.Unquote(string(q))
	if err != nil || q[0] != '"' {
		return 0, 0, "", errors.New("malformed row reason")
	}
	return int(n), o, reason, nil
}

// Checkpoint records the progress of a run; it is the batch.Sink that keeps
// a rerun from repeating finished rows. It holds the checkpoint's lock until
// Close.
type Checkpoint struct {
	path string
	lock *FileLock

	mu sync.Mutex
	j  *Journal
	b  []byte
}

var _ batch.Sink = (*Checkpoint)(nil)

// CheckpointOptions configure CreateCheckpoint and ResumeCheckpoint.
type CheckpointOptions struct {
	NoSync bool // skip fsync; for tests only
}

// CreateCheckpoint locks path and starts a new checkpoint there for the run
// id, replacing any older one. It returns a *LockedError if another run
// holds the lock.
func CreateCheckpoint(path string, id RunIdentity, runID string, opts CheckpointOptions) (*Checkpoint, error) {
	if runID == "" || !validHeaderValue(runID) {
		return nil, fmt.Errorf("create checkpoint: bad run id %q", runID)
	}
	fields, err := id.headerFields()
	if err != nil {
		return nil, fmt.Errorf("create checkpoint: %w", err)
	}
	lock, err := Lock(path)
	if err != nil {
		return nil, fmt.Errorf("create checkpoint: %w", err)
	}
	header := fmt.Sprintf("%s 2 run=%s started=%s %s", checkpointMagic, runID,
		time.Now().UTC().Format(time.RFC3339), strings.Join(fields, " "))
	err = lock.Replace(func(w io.Writer) error {
		_, err := w.Write(appendLine(nil, []byte(header)))
		return err
	})
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("create checkpoint: %w", err)
	}
	j, err := OpenJournal(path, JournalOptions{NoSync: opts.NoSync}, nil)
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("create checkpoint: %w", err)
	}
	return &Checkpoint{path: path, lock: lock, j: j}, nil
}

// ResumeCheckpoint locks the checkpoint that state was loaded from and
// reopens it so that a new run continues it (cutting off a torn final line).
// It fails if the file changed since LoadCheckpoint read it: load it again,
// under this lock, to start over.
func ResumeCheckpoint(path string, state *CheckpointState, opts CheckpointOptions) (*Checkpoint, error) {
	if state == nil {
		return nil, errors.New("resume checkpoint: no state")
	}
	lock, err := Lock(path)
	if err != nil {
		return nil, fmt.Errorf("resume checkpoint: %w", err)
	}
	lines := 0
	j, err := OpenJournal(path, JournalOptions{NoSync: opts.NoSync}, func(n int, _ []byte) error {
		lines = n
		return nil
	})
	if err == nil && lines != state.lines {
		_ = j.Close()
		err = fmt.Errorf("%s changed since it was loaded", path)
	}
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("resume checkpoint: %w", err)
	}
	c := &Checkpoint{path: path, lock: lock, j: j}
	c.append([]byte("resumed started=" + time.Now().UTC().Format(time.RFC3339)))
	return c, nil
}

// Record appends r's outcome. It does not wait for the line to reach the
// disk: a background flush writes it at once and fsyncs it within a second
// (or at Flush, Finish, Close); it returns an error if an earlier write
// failed. Email is not recorded: the report has it.
func (c *Checkpoint) Record(r batch.Result) error {
	if badResult(r) {
		return fmt.Errorf("checkpoint: bad result for row %d", r.Row)
	}
	reason := r.Reason
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut] + "…"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := append(c.b[:0], "row "...)
	b = strconv.AppendInt(b, int64(r.Row), 10)
	b = append(b, ' ')
	b = append(b, r.Outcome.String()...)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, reason)
	c.b = b
	if c.j == nil {
		return fmt.Errorf("checkpoint %s: %w", c.path, ErrJournalClosed)
	}
	c.j.Append(b)
	if err := c.j.Err(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// badResult reports whether r is no row's final outcome: neither the
// checkpoint nor the outcome table records it.
func badResult(r batch.Result) bool {
	return r.Row <= 0 || r.Row > maxCheckpointRow || r.Outcome == batch.OutcomeNone || r.Outcome.String() == "unknown"
}

func (c *Checkpoint) append(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.j != nil {
		c.j.Append(p)
	}
}

// Flush waits until every recorded line is durable.
func (c *Checkpoint) Flush() error {
	c.mu.Lock()
	j := c.j
	c.mu.Unlock()
	if j == nil {
		return fmt.Errorf("checkpoint %s: %w", c.path, ErrJournalClosed)
	}
	if err := j.Flush(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// Finish marks the run finished and waits until that is durable.
func (c *Checkpoint) Finish() error {
	c.append([]byte("finished"))
	return c.Flush()
}

// Close makes everything recorded durable and releases the lock. It may be
// called more than once.
func (c *Checkpoint) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.j != nil {
		err = c.j.Close()
		c.j = nil
	}
	if uerr := c.lock.Unlock(); err == nil && uerr != nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("close checkpoint: %w", err)
	}
	return nil
}
