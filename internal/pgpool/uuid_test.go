package pgpool

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestAnOptionalIDIsEncodedAsTheUUIDItPointsTo(t *testing.T) {
	m := pgtype.NewMap()
	registerUUID(m)
	id := uuid.New()

	want, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id, nil)
	if err != nil || !bytes.Equal(got, want) || len(got) != 16 {
		t.Fatalf("*uuid.UUID encoded as %x (%v), want the 16 bytes %x", got, err, want)
	}
	if got, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, (*uuid.UUID)(nil), nil); got != nil || err != nil {
		t.Fatalf("a nil *uuid.UUID encoded as %x (%v), want NULL", got, err)
	}
	// Through its string (driver.Valuer, a failed binary encoding, a
	// parse) it took 23 allocations.
	buf := make([]byte, 0, 16)
	if n := testing.AllocsPerRun(100, func() { _, _ = m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id, buf[:0]) }); n > 2 {
		t.Fatalf("encoding a *uuid.UUID took %.0f allocations, want at most 2", n)
	}
}

func TestAUUIDIsScannedFromItsBytesNotThroughAString(t *testing.T) {
	m := pgtype.NewMap()
	registerUUID(m)
	id := uuid.New()
	bin, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got uuid.UUID
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, bin, &got); err != nil || got != id {
		t.Fatalf("scanned %s (%v), want %s", got, err, id)
	}
	if err := m.Scan(pgtype.UUIDOID, pgtype.TextFormatCode, []byte(id.String()), &got); err != nil || got != id {
		t.Fatalf("scanned the text form as %s (%v), want %s", got, err, id)
	}
	// NULL leaves a uuid.UUID as it was, as uuid.UUID's own Scan does.
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, nil, &got); err != nil || got != id {
		t.Fatalf("NULL scanned into a uuid.UUID holding %s: %s (%v)", id, got, err)
	}
	optional := &id
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, nil, &optional); err != nil || optional != nil {
		t.Fatalf("NULL scanned into a *uuid.UUID as %v (%v), want nil", optional, err)
	}
	var ids []uuid.UUID
	arr, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []uuid.UUID{id, uuid.Nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Scan(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, arr, &ids); err != nil || len(ids) != 2 || ids[0] != id || ids[1] != uuid.Nil {
		t.Fatalf("scanned the array as %v (%v)", ids, err)
	}
	// Through a string (sql.Scanner) it took 3 allocations.
	plan := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &got)
	if n := testing.AllocsPerRun(100, func() { _ = plan.Scan(bin, &got) }); n > 0 {
		t.Fatalf("scanning a uuid took %.0f allocations, want none", n)
	}
}
