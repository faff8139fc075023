// Package cdr keeps call detail records: one Record per call the PBX
// handled (who called whom, which number was dialled, when it started, was
// answered and ended, how it ended and who hung up), behind a Store
// interface that other databases implement (a PostgreSQL store later).
//
// SQLite (OpenSQLite) is the embedded default: DATA/cdr.sqlite, pure Go
// (modernc.org/sqlite, no cgo), in WAL mode so that `parley cdr` reads
// while the server writes, its schema versioned with PRAGMA user_version.
//
// A call must never wait for a disk: the B2BUA writes through Async, a
// bounded queue in front of any Store with one writer goroutine that
// commits in batches. When the queue is full, Write does not block: the
// record goes to the Overflow function (by default a log line at error
// level holding every field, so the record is not lost) and
// ErrQueueFull is returned; Close writes what is queued before closing the
// store. cdrtest is the conformance suite every Store passes, in the shape
// of testing/fstest.
//
// Hang-up causes are SIP status codes and reason phrases (RFC 3261
// §21); a BYE is recorded as code 0 with the side that sent it.
package cdr
