package projections

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// A rebuild writes every read-model row with COPY in PostgreSQL's binary
// format. pgx's CopyFrom takes each row as []any and encodes value by
// value through its type map: a boxed interface and a plan lookup per
// value, plus reflection to take the values out of the row. At a million
// rows that was a fifth of the rebuild's CPU and much of its garbage
// (perf, crm projections rebuild --all). Here each column gets an encoder
// chosen once, from its Go field type and the column's type: the common
// pairs (uuid, text, bigint, integer, boolean, timestamptz, jsonb) are
// written straight from the row's memory; any other pair goes through
// pgx's type map as before, so every column pgx can copy is still copied.

// fieldEncoder appends the value of one field of the row at p as a COPY
// binary field: its length (-1 for NULL) and its bytes.
type fieldEncoder func(buf []byte, p unsafe.Pointer) ([]byte, error)

// rowEncoder encodes rows of R for COPY into one table's columns.
type rowEncoder[R any] struct {
	fields []fieldEncoder
}

// newRowEncoder prepares `SELECT cols FROM table` to learn the column
// types, and picks each column's encoder.
func (t *Table[R]) newRowEncoder(ctx context.Context, conn *pgx.Conn, table string) (*rowEncoder[R], error) {
	sd, err := conn.PgConn().Prepare(ctx, "", fmt.Sprintf("SELECT %s FROM %s", t.quotedCols(), pgx.Identifier{table}.Sanitize()), nil)
	if err != nil {
		return nil, err
	}
	if len(sd.Fields) != len(t.fields) {
		return nil, fmt.Errorf("%s has %d of the row's %d columns", table, len(sd.Fields), len(t.fields))
	}
	rt := reflect.TypeFor[R]()
	e := &rowEncoder[R]{}
	for j, i := range t.fields {
		f := rt.Field(i)
		e.fields = append(e.fields, encoderFor(conn.TypeMap(), f.Type, f.Offset, sd.Fields[j].DataTypeOID))
	}
	return e, nil
}

func (t *Table[R]) quotedCols() string {
	q := make([]string, len(t.cols))
	for i, c := range t.cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// appendRow appends row as one COPY binary tuple.
func (e *rowEncoder[R]) appendRow(buf []byte, row *R) ([]byte, error) {
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(e.fields)))
	p := unsafe.Pointer(row)
	var err error
	for _, enc := range e.fields {
		if buf, err = enc(buf, p); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// postgresEpoch is 2000-01-01 UTC, where PostgreSQL counts timestamps
// from, in microseconds after the Unix epoch.
const postgresEpoch = 946_684_800 * 1_000_000

func appendTimestamptz(buf []byte, t time.Time) []byte {
	// As pgx writes it: whole microseconds, the nanoseconds truncated.
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - postgresEpoch
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(us))
}

func appendText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

func appendNull(buf []byte) []byte { return binary.BigEndian.AppendUint32(buf, math.MaxUint32) }

// encoderFor returns the encoder of a field of type ft at offset in the
// row for a column of type oid.
func encoderFor(m *pgtype.Map, ft reflect.Type, offset uintptr, oid uint32) fieldEncoder {
	at := func(p unsafe.Pointer) unsafe.Pointer { return unsafe.Add(p, offset) }
	text := oid == pgtype.TextOID || oid == pgtype.VarcharOID
	switch {
	case ft == reflect.TypeFor[uuid.UUID]() && oid == pgtype.UUIDOID:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			buf = binary.BigEndian.AppendUint32(buf, 16)
			return append(buf, (*uuid.UUID)(at(p))[:]...), nil
		}
	case ft == reflect.TypeFor[*uuid.UUID]() && oid == pgtype.UUIDOID:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			u := *(**uuid.UUID)(at(p))
			if u == nil {
				return appendNull(buf), nil
			}
			buf = binary.BigEndian.AppendUint32(buf, 16)
			return append(buf, u[:]...), nil
		}
	case ft == reflect.TypeFor[string]() && text:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) { return appendText(buf, *(*string)(at(p))), nil }
	case ft == reflect.TypeFor[*string]() && text:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			s := *(**string)(at(p))
			if s == nil {
				return appendNull(buf), nil
			}
			return appendText(buf, *s), nil
		}
	case ft == reflect.TypeFor[bool]() && oid == pgtype.BoolOID:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			buf = binary.BigEndian.AppendUint32(buf, 1)
			if *(*bool)(at(p)) {
				return append(buf, 1), nil
			}
			return append(buf, 0), nil
		}
	case isInt(ft) && oid == pgtype.Int8OID:
		load := intLoader(ft)
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(load(at(p)))), nil
		}
	case isInt(ft) && oid == pgtype.Int4OID:
		load := intLoader(ft)
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			v := load(at(p))
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%d is out of range for an integer column", v)
			}
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(int32(v))), nil
		}
	case ft == reflect.TypeFor[time.Time]() && oid == pgtype.TimestamptzOID:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			return appendTimestamptz(buf, *(*time.Time)(at(p))), nil
		}
	case ft == reflect.TypeFor[*time.Time]() && oid == pgtype.TimestamptzOID:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			t := *(**time.Time)(at(p))
			if t == nil {
				return appendNull(buf), nil
			}
			return appendTimestamptz(buf, *t), nil
		}
	case ft == reflect.TypeFor[json.RawMessage]() && oid == pgtype.JSONBOID:
		return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
			j := *(*json.RawMessage)(at(p))
			if j == nil {
				return appendNull(buf), nil
			}
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(j)+1))
			buf = append(buf, 1) // jsonb's binary format version
			return append(buf, j...), nil
		}
	}
	// Any other pair: pgx's own encoding of the value, as CopyFrom does.
	return func(buf []byte, p unsafe.Pointer) ([]byte, error) {
		v := copyValue(reflect.NewAt(ft, at(p)).Elem().Interface())
		sp := len(buf)
		buf = appendNull(buf)
		out, err := m.Encode(oid, pgtype.BinaryFormatCode, v, buf)
		if err != nil {
			return nil, err
		}
		if out != nil {
			buf = out
			binary.BigEndian.PutUint32(buf[sp:], uint32(len(buf)-sp-4))
		}
		return buf, nil
	}
}

func isInt(t reflect.Type) bool { return t == reflect.TypeFor[int64]() || t == reflect.TypeFor[int]() }

// intLoader reads an int64 or int field as int64.
func intLoader(t reflect.Type) func(unsafe.Pointer) int64 {
	if t == reflect.TypeFor[int64]() {
		return func(p unsafe.Pointer) int64 { return *(*int64)(p) }
	}
	return func(p unsafe.Pointer) int64 { return int64(*(*int)(p)) }
}

// copyReader is the COPY data of rows: the binary header, a tuple per
// row as next yields them, and the trailer. It encodes about 64 kB at a
// time, as pgconn reads it.
type copyReader[R any] struct {
	enc   *rowEncoder[R]
	next  func() (*R, bool)
	buf   []byte
	off   int
	begun bool
	done  bool
	rows  int64
}

var copyHeader = []byte("PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000")

func (c *copyReader[R]) Read(p []byte) (int, error) {
	for c.off >= len(c.buf) {
		if c.done {
			return 0, io.EOF
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

func (c *copyReader[R]) fill() error {
	c.buf, c.off = c.buf[:0], 0
	if !c.begun {
		c.buf, c.begun = append(c.buf, copyHeader...), true
	}
	for len(c.buf) < 64<<10 {
		row, ok := c.next()
		if !ok {
			c.buf = binary.BigEndian.AppendUint16(c.buf, math.MaxUint16) // the trailer: -1
			c.done = true
			return nil
		}
		var err error
		if c.buf, err = c.enc.appendRow(c.buf, row); err != nil {
			return err
		}
		c.rows++
	}
	return nil
}

// copyRows writes the rows next yields into table, which is empty (a
// rebuild's shadow copy), with one COPY. The COPY runs in a transaction
// that truncates the table first, so that it can take the rows frozen and
// its pages all-visible (COPY FREEZE): otherwise autovacuum visits every
// page of each swapped-in table within a minute of the swap to set the
// visibility map (3.0–3.4 MB of WAL after a rebuild of 1.6M events, 12.6
// MB in a bench run's idle minute), and the index-only scans of the queries
// read the heap until it has.
func (t *Table[R]) copyRows(ctx context.Context, conn *pgx.Conn, table string, next func() (*R, bool)) (n int64, err error) {
	enc, err := t.newRowEncoder(ctx, conn, table)
	if err != nil {
		return 0, err
	}
	name := pgx.Identifier{table}.Sanitize()
	if _, err := conn.Exec(ctx, "BEGIN; TRUNCATE "+name); err != nil {
		return 0, err
	}
	defer func() {
		end := "COMMIT"
		if err != nil {
			end = "ROLLBACK"
		}
		if _, eerr := conn.Exec(context.WithoutCancel(ctx), end); eerr != nil && err == nil {
			n, err = 0, eerr
		}
	}()
	r := &copyReader[R]{enc: enc, next: next}
	tag, err := conn.PgConn().CopyFrom(ctx, r,
		fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary, FREEZE)", name, t.quotedCols()))
	if err != nil {
		return r.rows, err
	}
	return tag.RowsAffected(), nil
}

// copyValue hands pgx's COPY encoder the plainest form of a value:
// uuid.UUID is a driver.Valuer whose text form pgx would parse back, and
// that detour cost more than the rest of the rebuild's COPY.
func copyValue(v any) any {
	switch x := v.(type) {
	case uuid.UUID:
		return pgtype.UUID{Bytes: x, Valid: true}
	case *uuid.UUID:
		if x == nil {
			return pgtype.UUID{}
		}
		return pgtype.UUID{Bytes: *x, Valid: true}
	case json.RawMessage:
		return []byte(x)
	}
	return v
}
