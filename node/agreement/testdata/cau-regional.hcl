# The CAU regional agreement of the demo (DESIGN §6).
agreement "cau-regional" {
  version        = 3
  recipients     = ["spiffe://vrs.local/hub"]
  min_cell       = 5
  rounding       = "rr3"
  max_group_by   = 3
  period_floor   = "month"
  suppress_zeros = false
  fees_currency  = "USD"

  measure "migrants" {
    dimensions = ["period.month", "citizenship", "sex", "age_band", "transport_mode", "route.origin", "route.destination"]
  }
  measure "incidents" {
    dimensions = ["period.month", "transport_mode", "route.origin", "route.destination", "iccs"]
  }
  measure "fees_paid" {
    dimensions = ["period.year", "route.origin"]
  }

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
