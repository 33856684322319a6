# Malaysia: exact figures above a threshold of 5, no rounding; shares flows
# and harm, not the justice response and not fees.
agreement "cau-regional" {
  version      = 2
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = "none"
  max_group_by = 3
  period_floor = "month"

  measure "migrants"  { dimensions = ["period.year", "period.quarter", "period.month", "citizenship", "sex", "age_band", "transport_mode", "route.origin", "route.transit", "route.destination"] }
  measure "incidents" { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
  measure "deaths"    { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
  measure "missing"   { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
}
