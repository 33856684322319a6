# Australia: shares every measure with a threshold of 3 and RR3 rounding,
# fees in USD, and offers a redacted extract of sea-route incidents.
agreement "cau-regional" {
  version      = 4
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 3
  rounding     = "rr3"
  max_group_by = 3
  period_floor = "month"
  fees_currency = "USD"

  measure "migrants"             { dimensions = ["period.year", "period.quarter", "period.month", "citizenship", "sex", "age_band", "transport_mode", "route.origin", "route.transit", "route.destination"] }
  measure "incidents"            { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination", "iccs", "location_type", "subdivision"] }
  measure "deaths"               { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
  measure "missing"              { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "route.origin", "route.destination"] }
  measure "injured"              { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode"] }
  measure "fees_paid"            { dimensions = ["period.year", "period.quarter", "route.origin", "route.destination", "transport_mode"] }
  measure "suspects"             { dimensions = ["period.year", "period.quarter", "period.month", "legal_status", "suspect_role", "citizenship"] }
  measure "prosecutions"         { dimensions = ["period.year", "period.quarter", "citizenship"] }
  measure "convictions"          { dimensions = ["period.year", "period.quarter", "citizenship"] }
  measure "minors_unaccompanied" { dimensions = ["period.year", "period.quarter", "citizenship"] }

  extract "sea-routes" {
    fields = {
      "period"            = "month"
      "route.origin"      = "country"
      "route.transit"     = "country"
      "route.destination" = "country"
      "transport_mode"    = "as_is"
      "migrants"          = "band"
    }
    quasi_identifiers = ["period", "route.origin", "route.destination"]
    k = 3
  }
}
