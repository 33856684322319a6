# Indonesia: shares flows, harm, fees in USD and the justice response;
# small cells below 5 are suppressed and the rest randomly rounded to base 3.
agreement "cau-regional" {
  version      = 3
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = "rr3"
  max_group_by = 3
  period_floor = "month"
  fees_currency = "USD"

  measure "migrants"             { dimensions = ["period.year", "period.quarter", "period.month", "citizenship", "sex", "age_band", "transport_mode", "route.origin", "route.transit", "route.destination"] }
  measure "incidents"            { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination", "iccs", "location_type"] }
  measure "deaths"               { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
  measure "missing"              { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
  measure "fees_paid"            { dimensions = ["period.year", "period.quarter", "route.origin", "route.destination", "transport_mode"] }
  measure "suspects"             { dimensions = ["period.year", "period.quarter", "period.month", "legal_status", "suspect_role", "citizenship"] }
  measure "minors_unaccompanied" { dimensions = ["period.year", "period.quarter", "citizenship"] }
}
