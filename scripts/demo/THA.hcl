# Thailand: a higher threshold (min_cell 10) and no fees; quarterly harm only.
agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 10
  rounding     = "rr3"
  max_group_by = 3
  period_floor = "month"

  measure "migrants"  { dimensions = ["period.year", "period.quarter", "period.month", "citizenship", "sex", "age_band", "transport_mode", "route.origin", "route.transit", "route.destination"] }
  measure "incidents" { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination", "iccs"] }
  measure "deaths"    { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode"] }
  measure "missing"   { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode"] }
  measure "suspects"  { dimensions = ["period.year", "period.quarter", "period.month", "legal_status", "suspect_role"] }
}
