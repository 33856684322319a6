package period

import (
	"errors"
	"testing"
	"time"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

func TestCompute(t *testing.T) {
	t.Parallel()
	bkk, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	// 2026-03-31 20:00 UTC is already 1 April in Bangkok.
	lateMarch := time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		rel      hubv1.RelativePeriod
		n        int
		now      time.Time
		loc      *time.Location
		from, to string
	}{
		{"previous month", hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_MONTH, 0, lateMarch, nil, "2026-02-01", "2026-02-28"},
		{"previous month in zone", hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_MONTH, 0, lateMarch, bkk, "2026-03-01", "2026-03-31"},
		{"previous month in january", hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_MONTH, 0, time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), nil, "2025-12-01", "2025-12-31"},
		{"previous quarter", hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_QUARTER, 0, lateMarch, nil, "2025-10-01", "2025-12-31"},
		{"previous quarter in zone", hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_QUARTER, 0, lateMarch, bkk, "2026-01-01", "2026-03-31"},
		{"previous year", hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_YEAR, 0, lateMarch, nil, "2025-01-01", "2025-12-31"},
		{"year to date", hubv1.RelativePeriod_RELATIVE_PERIOD_YEAR_TO_DATE, 0, lateMarch, nil, "2026-01-01", "2026-02-28"},
		{"year to date on 1 january", hubv1.RelativePeriod_RELATIVE_PERIOD_YEAR_TO_DATE, 0, time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), nil, "2025-01-01", "2025-12-31"},
		{"year to date in january", hubv1.RelativePeriod_RELATIVE_PERIOD_YEAR_TO_DATE, 0, time.Date(2026, 1, 20, 9, 0, 0, 0, time.UTC), nil, "2025-01-01", "2025-12-31"},
		{"last 12 months", hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS, 12, lateMarch, nil, "2025-03-01", "2026-02-28"},
		{"last 3 months in zone", hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS, 3, lateMarch, bkk, "2026-01-01", "2026-03-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from, to, err := Compute(tt.rel, tt.n, tt.now, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if from != tt.from || to != tt.to {
				t.Errorf("Compute = %s..%s, want %s..%s", from, to, tt.from, tt.to)
			}
		})
	}
}

func TestComputeInvalid(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, c := range []struct {
		rel hubv1.RelativePeriod
		n   int
	}{
		{hubv1.RelativePeriod_RELATIVE_PERIOD_UNSPECIFIED, 0},
		{hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS, 0},
		{hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS, MaxLastMonths + 1},
	} {
		if _, _, err := Compute(c.rel, c.n, now, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compute(%v, %d): err = %v, want ErrInvalid", c.rel, c.n, err)
		}
	}
}
