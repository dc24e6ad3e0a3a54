package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"example.com/crm/internal/seed"
)

// A kept work dir's data set is found again at the scale it was seeded
// at, and at no other: a run at another scale seeds its own.
func TestASeededDataSetIsFoundAgainAtItsScale(t *testing.T) {
	path := filepath.Join(t.TempDir(), seedFileName)
	if _, found, err := loadSeed(path, 1); found || err != nil {
		t.Fatalf("nothing saved yet: found %v, %v", found, err)
	}
	res := seed.Result{Main: seed.Org{ID: uuid.New(), Owner: seed.User{ID: uuid.New(), Email: "owner@example.com", Role: "owner"},
		SampleDeals: []uuid.UUID{uuid.New()}, BigDeal: uuid.New()}, Password: "pw", Events: 1_101_001}
	if err := saveSeed(path, 0.2, res); err != nil {
		t.Fatal(err)
	}
	got, found, err := loadSeed(path, 0.2)
	if err != nil || !found {
		t.Fatalf("same scale: found %v, %v", found, err)
	}
	if got.Main.ID != res.Main.ID || got.Main.Owner.Email != res.Main.Owner.Email || got.Password != res.Password ||
		got.Events != res.Events || got.Main.BigDeal != res.Main.BigDeal || len(got.Main.SampleDeals) != 1 {
		t.Fatalf("read back %+v, saved %+v", got, res)
	}
	if _, found, err := loadSeed(path, 1); found || err != nil {
		t.Fatalf("another scale: found %v, %v", found, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadSeed(path, 0.2); err == nil {
		t.Fatal("a damaged file reads without error")
	}
}
