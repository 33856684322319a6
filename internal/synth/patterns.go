package synth

import (
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// This file is the generator's picture of the region: smuggling corridors,
// where along them each state detects migrants, what the journeys cost and
// how dangerous they are. The figures are plausible orders of magnitude drawn
// from the public UNODC and IOM regional reports, not statistics: the point
// is data that exercises every dimension of the aggregate engine with the
// skews analysts expect (sea journeys carry the deaths, Rohingya boats carry
// women and children, air routes carry the forged passports).

// wstr is a weighted string choice.
type wstr struct {
	v string
	w float64
}

// place is a kind of place where a state detects migrants on a corridor.
type place struct {
	sub   string // ISO 3166-2 subdivision of the detecting state; may be empty
	label string // used only to build the synthetic, never-shared place name
	loc   recordv1.LocationType
	w     float64
}

// stop is where along a corridor one state detects migrants.
type stop struct {
	country string
	mode    recordv1.TransportMode
	places  []place
	w       float64 // share of the corridor's detections made by this state
	size    [2]int  // migrants per incident here; zero means the corridor's
	fraud   float64 // probability of document fraud here; zero means the corridor's
}

// corridor is one smuggling pattern: who travels, along which route, how, at
// what price and at what risk.
type corridor struct {
	name    string
	origins []wstr // weighted; forced to the detecting state when it is one
	transit []string
	dests   []wstr // weighted; forced to the detecting state when it is one
	// Citizenship of migrants: the origin country with probability ownCit,
	// otherwise one of cit (ICAO codes allowed).
	ownCit float64
	cit    []wstr
	stops  []stop
	w      float64 // corridor weight relative to others seen by a state
	size   [2]int  // migrants per incident, skewed towards the low end
	female float64 // share of women among adults
	minor  float64 // share of minors among migrants
	uam    float64 // share of unaccompanied among minors aged 8 and over
	feeUSD [2]float64
	pay    []payW
	fraud  float64     // probability of document fraud
	visa   float64     // probability of visa abuse
	death  float64     // probability that an incident has deaths
	miss   float64     // probability that an incident has missing persons
	season [12]float64 // relative monthly weight, January first
	// Suspect citizenship: the detecting state's own nationals with
	// probability localSus, otherwise one of sus (empty: the origin).
	localSus float64
	sus      []wstr
}

// payW is a weighted payment method.
type payW struct {
	v recordv1.PaymentMethod
	w float64
}

// Seasonal profiles. The Andaman Sea sailing season runs with the north-east
// monsoon (October to April); the south-west monsoon keeps boats in port.
// Land movements rise before Songkran and after the harvest; air travel with
// the holidays.
var (
	seasonAndaman = [12]float64{1.4, 1.3, 1.2, 0.9, 0.5, 0.3, 0.3, 0.3, 0.5, 1.2, 1.6, 1.5}
	seasonTimor   = [12]float64{0.7, 0.7, 0.9, 1.1, 1.2, 1.2, 1.1, 1.1, 1.2, 1.1, 0.9, 0.8}
	seasonIndian  = [12]float64{1.2, 1.3, 1.3, 1.2, 0.7, 0.5, 0.6, 0.7, 0.9, 1.1, 1.2, 1.2}
	seasonLand    = [12]float64{1.2, 1.1, 1.2, 1.3, 1.0, 0.9, 0.8, 0.8, 0.9, 1.0, 1.1, 1.2}
	seasonAir     = [12]float64{1.2, 1.2, 0.9, 0.9, 0.9, 1.0, 1.2, 1.1, 0.9, 1.0, 1.0, 1.3}
	seasonStraits = [12]float64{0.9, 0.9, 1.0, 1.1, 1.2, 1.1, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9}
)

const (
	land   = recordv1.TransportMode_TRANSPORT_MODE_LAND
	sea    = recordv1.TransportMode_TRANSPORT_MODE_SEA
	air    = recordv1.TransportMode_TRANSPORT_MODE_AIR
	mixed  = recordv1.TransportMode_TRANSPORT_MODE_MIXED
	border = recordv1.LocationType_LOCATION_TYPE_BORDER_POST
	apt    = recordv1.LocationType_LOCATION_TYPE_AIRPORT
	port   = recordv1.LocationType_LOCATION_TYPE_SEAPORT
	atSea  = recordv1.LocationType_LOCATION_TYPE_AT_SEA
	inland = recordv1.LocationType_LOCATION_TYPE_INLAND
)

var (
	payLand  = []payW{{recordv1.PaymentMethod_PAYMENT_METHOD_CASH, 6}, {recordv1.PaymentMethod_PAYMENT_METHOD_MOBILE_MONEY, 2}, {recordv1.PaymentMethod_PAYMENT_METHOD_BANK_TRANSFER, 1}, {recordv1.PaymentMethod_PAYMENT_METHOD_IN_KIND, 1}}
	payHawal = []payW{{recordv1.PaymentMethod_PAYMENT_METHOD_HAWALA, 6}, {recordv1.PaymentMethod_PAYMENT_METHOD_BANK_TRANSFER, 2}, {recordv1.PaymentMethod_PAYMENT_METHOD_CASH, 2}}
	payRohi  = []payW{{recordv1.PaymentMethod_PAYMENT_METHOD_MOBILE_MONEY, 4}, {recordv1.PaymentMethod_PAYMENT_METHOD_HAWALA, 3}, {recordv1.PaymentMethod_PAYMENT_METHOD_CASH, 2}, {recordv1.PaymentMethod_PAYMENT_METHOD_IN_KIND, 1}}
	payAir   = []payW{{recordv1.PaymentMethod_PAYMENT_METHOD_BANK_TRANSFER, 4}, {recordv1.PaymentMethod_PAYMENT_METHOD_CASH, 3}, {recordv1.PaymentMethod_PAYMENT_METHOD_CRYPTOCURRENCY, 1}, {recordv1.PaymentMethod_PAYMENT_METHOD_IN_KIND, 1}, {recordv1.PaymentMethod_PAYMENT_METHOD_OTHER, 1}}
	payWork  = []payW{{recordv1.PaymentMethod_PAYMENT_METHOD_IN_KIND, 4}, {recordv1.PaymentMethod_PAYMENT_METHOD_CASH, 3}, {recordv1.PaymentMethod_PAYMENT_METHOD_BANK_TRANSFER, 2}, {recordv1.PaymentMethod_PAYMENT_METHOD_MOBILE_MONEY, 1}}

	// Places reused by several corridors.
	thaAirports = []place{{"TH-11", "Suvarnabhumi airport", apt, 3}, {"TH-10", "Don Mueang airport", apt, 1}, {"TH-83", "Phuket airport", apt, 0.5}}
	mysAirports = []place{{"MY-10", "KLIA", apt, 4}, {"MY-07", "Penang airport", apt, 0.5}, {"MY-12", "Kota Kinabalu airport", apt, 0.3}, {"MY-01", "Senai airport", apt, 0.4}}
	ausAirports = []place{{"AU-NSW", "Sydney airport", apt, 3}, {"AU-VIC", "Melbourne airport", apt, 2}, {"AU-QLD", "Brisbane airport", apt, 1}, {"AU-WA", "Perth airport", apt, 1}}
	idnAirports = []place{{"ID-BT", "Soekarno-Hatta airport", apt, 3}, {"ID-BA", "Ngurah Rai airport", apt, 2}, {"ID-SU", "Kualanamu airport", apt, 0.5}}
)

// corridors are the patterns of the region. A state sees the corridors on
// which it has a stop; a state on none gets a generic air and land pattern
// (see genericCorridor).
var corridors = []corridor{
	{
		name: "mmr-tha-land", origins: []wstr{{"MMR", 1}}, dests: []wstr{{"THA", 1}},
		ownCit: 0.93, cit: []wstr{{"XXA", 2}, {"XXX", 1}},
		stops: []stop{
			{country: "THA", mode: land, w: 0.9, places: []place{
				{"TH-63", "Mae Sot", border, 2}, {"TH-63", "Tak hills", inland, 1}, {"TH-71", "Kanchanaburi", inland, 2},
				{"TH-85", "Ranong checkpoint", border, 1.5}, {"TH-57", "Mae Sai", border, 1}, {"TH-50", "Chiang Mai", inland, 1},
				{"TH-10", "Bangkok", inland, 1}, {"TH-74", "Samut Sakhon", inland, 1}}},
			{country: "MMR", mode: land, w: 0.1, places: []place{{"MM-13", "Myawaddy", border, 1}, {"MM-05", "Kawthaung", border, 0.5}}},
		},
		w: 3, size: [2]int{1, 25}, female: 0.35, minor: 0.08, uam: 0.2, feeUSD: [2]float64{150, 600}, pay: payLand,
		fraud: 0.03, death: 0.003, miss: 0.002, season: seasonLand, localSus: 0.5,
	},
	{
		name: "mmr-tha-mys-land", origins: []wstr{{"MMR", 1}}, transit: []string{"THA"}, dests: []wstr{{"MYS", 1}},
		ownCit: 0.9, cit: []wstr{{"XXA", 3}, {"XXX", 1}},
		stops: []stop{
			{country: "THA", mode: land, w: 0.5, places: []place{
				{"TH-90", "Sadao", border, 3}, {"TH-90", "Hat Yai", inland, 1}, {"TH-91", "Satun", inland, 1}, {"TH-95", "Betong", border, 0.5},
				{"TH-96", "Sungai Kolok", border, 0.5}, {"TH-63", "Mae Sot", border, 1}}},
			{country: "MYS", mode: land, w: 0.5, places: []place{
				{"MY-09", "Padang Besar", border, 1}, {"MY-02", "Bukit Kayu Hitam", border, 2}, {"MY-02", "Kedah plantation", inland, 1},
				{"MY-03", "Rantau Panjang", border, 1}, {"MY-10", "Klang", inland, 1}}},
		},
		w: 2, size: [2]int{2, 20}, female: 0.2, minor: 0.05, uam: 0.3, feeUSD: [2]float64{800, 2500}, pay: payLand,
		fraud: 0.05, death: 0.005, miss: 0.002, season: seasonLand, localSus: 0.4, sus: []wstr{{"MMR", 1}, {"THA", 1}},
	},
	{
		name: "khm-tha-land", origins: []wstr{{"KHM", 1}}, dests: []wstr{{"THA", 1}},
		ownCit: 0.98, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "THA", mode: land, w: 0.9, places: []place{
				{"TH-27", "Aranyaprathet", border, 3}, {"TH-27", "Sa Kaeo fields", inland, 1}, {"TH-23", "Khlong Yai", border, 1},
				{"TH-32", "Chong Chom", border, 1}, {"TH-33", "Si Sa Ket", inland, 0.5}, {"TH-10", "Bangkok", inland, 1}}},
			{country: "KHM", mode: land, w: 0.1, places: []place{{"KH-1", "Poipet", border, 1}}},
		},
		w: 2, size: [2]int{1, 20}, female: 0.4, minor: 0.1, uam: 0.2, feeUSD: [2]float64{80, 300}, pay: payLand,
		fraud: 0.02, death: 0.001, miss: 0.001, season: seasonLand, localSus: 0.6,
	},
	{
		name: "lao-tha-land", origins: []wstr{{"LAO", 1}}, dests: []wstr{{"THA", 1}},
		ownCit: 0.98, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "THA", mode: land, w: 0.9, places: []place{
				{"TH-43", "Friendship Bridge", border, 2}, {"TH-34", "Chong Mek", border, 1}, {"TH-48", "Nakhon Phanom riverbank", inland, 1},
				{"TH-49", "Mukdahan", border, 1}, {"TH-57", "Chiang Khong", border, 0.5}, {"TH-10", "Bangkok", inland, 1}}},
			{country: "LAO", mode: land, w: 0.1, places: []place{{"LA-VT", "Thanaleng", border, 1}}},
		},
		w: 1.5, size: [2]int{1, 15}, female: 0.45, minor: 0.12, uam: 0.25, feeUSD: [2]float64{80, 300}, pay: payLand,
		fraud: 0.02, death: 0.002, miss: 0.002, season: seasonLand, localSus: 0.6,
	},
	{
		name: "rohingya-andaman-mys", origins: []wstr{{"MMR", 1}, {"BGD", 1}}, transit: []string{"THA"}, dests: []wstr{{"MYS", 1}},
		ownCit: 0.08, cit: []wstr{{"XXA", 17}, {"XXX", 1}},
		stops: []stop{
			{country: "BGD", mode: sea, w: 0.15, places: []place{{"BD-B", "Teknaf coast", atSea, 2}, {"BD-B", "Cox's Bazar jetty", port, 1}}},
			{country: "MMR", mode: sea, w: 0.1, places: []place{{"MM-16", "Rakhine coast", atSea, 2}, {"MM-16", "Sittwe jetty", port, 1}}},
			{country: "THA", mode: sea, w: 0.3, places: []place{
				{"TH-85", "off Ranong", atSea, 2}, {"TH-82", "off Phang Nga", atSea, 2}, {"TH-91", "off Satun", atSea, 2}, {"TH-83", "Phuket harbour", port, 1}}},
			{country: "MYS", mode: sea, w: 0.45, places: []place{
				{"MY-02", "off Langkawi", atSea, 3}, {"MY-09", "off Perlis", atSea, 1}, {"MY-07", "Penang harbour", port, 1}}},
		},
		w: 1, size: [2]int{15, 180}, female: 0.45, minor: 0.35, uam: 0.3, feeUSD: [2]float64{500, 2500}, pay: payRohi,
		fraud: 0.01, death: 0.12, miss: 0.10, season: seasonAndaman, localSus: 0.1, sus: []wstr{{"MMR", 2}, {"BGD", 2}, {"THA", 1}, {"XXA", 1}},
	},
	{
		name: "rohingya-andaman-idn", origins: []wstr{{"MMR", 2}, {"BGD", 3}}, dests: []wstr{{"IDN", 1}},
		ownCit: 0.05, cit: []wstr{{"XXA", 18}, {"XXX", 1}},
		stops: []stop{
			{country: "BGD", mode: sea, w: 0.15, places: []place{{"BD-B", "Teknaf coast", atSea, 2}, {"BD-B", "Cox's Bazar jetty", port, 1}}},
			{country: "MMR", mode: sea, w: 0.05, places: []place{{"MM-16", "Rakhine coast", atSea, 1}}},
			{country: "IDN", mode: sea, w: 0.8, places: []place{
				{"ID-AC", "off Aceh", atSea, 3}, {"ID-AC", "Lhokseumawe harbour", port, 1}, {"ID-SU", "off North Sumatra", atSea, 1}}},
		},
		w: 1, size: [2]int{40, 250}, female: 0.5, minor: 0.4, uam: 0.3, feeUSD: [2]float64{400, 2000}, pay: payRohi,
		fraud: 0.01, death: 0.15, miss: 0.12, season: seasonAndaman, localSus: 0.05, sus: []wstr{{"MMR", 1}, {"BGD", 2}, {"XXA", 1}},
	},
	{
		name: "afg-mys-idn-aus", origins: []wstr{{"AFG", 9}, {"PAK", 4}, {"IRN", 4}, {"IRQ", 3}},
		transit: []string{"MYS", "IDN"}, dests: []wstr{{"AUS", 1}},
		ownCit: 0.75, cit: []wstr{{"AFG", 4}, {"XXB", 1}, {"XXA", 1}, {"XXX", 1}},
		stops: []stop{
			{country: "MYS", mode: air, w: 0.3, size: [2]int{1, 6}, fraud: 0.6, places: mysAirports},
			{country: "IDN", mode: mixed, w: 0.3, size: [2]int{3, 40}, places: []place{
				{"ID-JB", "Cisarua", inland, 2}, {"ID-NT", "Rote island", port, 2}, {"ID-JB", "Pelabuhan Ratu", port, 1}, {"ID-JI", "Madura coast", port, 1}}},
			{country: "AUS", mode: sea, w: 0.4, size: [2]int{8, 80}, fraud: 0.05, places: []place{
				{"AU-WA", "near Ashmore Reef", atSea, 3}, {"AU-WA", "Kimberley coast", atSea, 1}, {"AU-NT", "off Darwin", atSea, 1}}},
		},
		w: 1.5, size: [2]int{5, 60}, female: 0.2, minor: 0.15, uam: 0.4, feeUSD: [2]float64{4000, 15000}, pay: payHawal,
		fraud: 0.2, death: 0.06, miss: 0.05, season: seasonTimor, localSus: 0.3, sus: []wstr{{"IDN", 3}, {"AFG", 1}, {"PAK", 1}},
	},
	{
		name: "lka-aus-sea", origins: []wstr{{"LKA", 1}}, dests: []wstr{{"AUS", 1}},
		ownCit: 0.97, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "LKA", mode: sea, w: 0.55, places: []place{
				{"LK-5", "off Batticaloa", atSea, 2}, {"LK-6", "Chilaw harbour", port, 1}, {"LK-6", "off Negombo", atSea, 1}, {"LK-3", "off Galle", atSea, 1}}},
			{country: "AUS", mode: sea, w: 0.45, places: []place{
				{"AU-WA", "off Western Australia", atSea, 3}, {"AU-NT", "off Darwin", atSea, 0.5}, {"AU-QLD", "off Queensland", atSea, 0.2}}},
		},
		w: 1, size: [2]int{10, 60}, female: 0.15, minor: 0.1, uam: 0.3, feeUSD: [2]float64{2000, 7000}, pay: payHawal,
		fraud: 0.02, death: 0.04, miss: 0.04, season: seasonIndian, localSus: 0.7, sus: []wstr{{"LKA", 1}},
	},
	{
		name: "air-aus-direct", origins: []wstr{{"VNM", 4}, {"CHN", 4}, {"IND", 1}, {"PHL", 1}}, dests: []wstr{{"AUS", 1}},
		ownCit: 0.97, cit: []wstr{{"XXX", 1}},
		stops: []stop{{country: "AUS", mode: air, w: 1, places: ausAirports}},
		w:     1.5, size: [2]int{1, 4}, female: 0.45, minor: 0.08, uam: 0.3, feeUSD: [2]float64{8000, 25000}, pay: payAir,
		fraud: 0.8, visa: 0.3, season: seasonAir, localSus: 0.4,
	},
	{
		name: "air-via-mys", origins: []wstr{{"VNM", 3}, {"CHN", 3}, {"IRN", 1}, {"BGD", 1}, {"PAK", 1}}, transit: []string{"MYS"},
		dests:  []wstr{{"AUS", 4}, {"NZL", 2}, {"JPN", 2}, {"KOR", 2}},
		ownCit: 0.97, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "MYS", mode: air, w: 0.6, places: mysAirports},
			{country: "AUS", mode: air, w: 0.4, places: ausAirports},
		},
		w: 1.5, size: [2]int{1, 4}, female: 0.4, minor: 0.06, uam: 0.3, feeUSD: [2]float64{6000, 20000}, pay: payAir,
		fraud: 0.85, visa: 0.2, season: seasonAir, localSus: 0.3, sus: []wstr{{"MYS", 1}, {"CHN", 1}, {"VNM", 1}},
	},
	{
		name: "air-via-tha", origins: []wstr{{"VNM", 4}, {"CHN", 4}, {"LKA", 1}, {"IND", 1}}, transit: []string{"THA"},
		dests:  []wstr{{"JPN", 3}, {"KOR", 3}, {"AUS", 2}, {"NZL", 1}, {"GBR", 1}},
		ownCit: 0.97, cit: []wstr{{"XXX", 1}},
		stops: []stop{{country: "THA", mode: air, w: 1, places: thaAirports}},
		w:     1.5, size: [2]int{1, 4}, female: 0.45, minor: 0.05, uam: 0.3, feeUSD: [2]float64{5000, 18000}, pay: payAir,
		fraud: 0.85, visa: 0.2, season: seasonAir, localSus: 0.3, sus: []wstr{{"THA", 1}, {"CHN", 1}, {"VNM", 1}},
	},
	{
		name: "air-via-idn", origins: []wstr{{"VNM", 2}, {"CHN", 2}, {"IRN", 2}, {"AFG", 1}}, transit: []string{"IDN"}, dests: []wstr{{"AUS", 1}},
		ownCit: 0.9, cit: []wstr{{"AFG", 2}, {"XXX", 1}},
		stops: []stop{
			{country: "IDN", mode: air, w: 0.6, places: idnAirports},
			{country: "AUS", mode: air, w: 0.4, places: ausAirports},
		},
		w: 1, size: [2]int{1, 4}, female: 0.35, minor: 0.08, uam: 0.3, feeUSD: [2]float64{5000, 15000}, pay: payAir,
		fraud: 0.8, visa: 0.2, season: seasonAir, localSus: 0.4,
	},
	{
		name: "labour-air-mys", origins: []wstr{{"BGD", 7}, {"NPL", 5}, {"PAK", 3}, {"IND", 2}, {"MMR", 1}, {"IDN", 2}}, dests: []wstr{{"MYS", 1}},
		ownCit: 0.98, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "MYS", mode: air, w: 0.8, places: mysAirports},
			{country: "BGD", mode: air, w: 0.1, places: []place{{"BD-C", "Dhaka airport", apt, 1}}},
			{country: "NPL", mode: air, w: 0.1, places: []place{{"", "Kathmandu airport", apt, 1}}},
		},
		w: 2, size: [2]int{1, 8}, female: 0.1, minor: 0.02, uam: 0.5, feeUSD: [2]float64{2500, 5000}, pay: payWork,
		fraud: 0.25, visa: 0.6, season: seasonAir, localSus: 0.5,
	},
	{
		name: "idn-mys-straits", origins: []wstr{{"IDN", 1}}, dests: []wstr{{"MYS", 1}},
		ownCit: 0.98, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "IDN", mode: sea, w: 0.45, places: []place{
				{"ID-KR", "off Batam", atSea, 3}, {"ID-KR", "Tanjung Pinang harbour", port, 1}, {"ID-RI", "Dumai harbour", port, 2}, {"ID-SU", "Tanjung Balai", port, 0.5}}},
			{country: "MYS", mode: sea, w: 0.55, places: []place{
				{"MY-01", "off Johor", atSea, 3}, {"MY-01", "Pasir Gudang", port, 1}, {"MY-04", "off Melaka", atSea, 1}, {"MY-05", "Port Dickson", port, 1}, {"MY-10", "off Selangor", atSea, 0.5}}},
		},
		w: 2.5, size: [2]int{5, 40}, female: 0.3, minor: 0.08, uam: 0.3, feeUSD: [2]float64{200, 900}, pay: payLand,
		fraud: 0.05, death: 0.04, miss: 0.03, season: seasonStraits, localSus: 0.6, sus: []wstr{{"IDN", 3}, {"MYS", 1}},
	},
	{
		name: "idn-mys-borneo", origins: []wstr{{"IDN", 1}}, dests: []wstr{{"MYS", 1}},
		ownCit: 0.98, cit: []wstr{{"XXX", 1}},
		stops: []stop{
			{country: "IDN", mode: land, w: 0.4, places: []place{{"ID-KB", "Entikong", border, 2}, {"ID-KB", "Sanggau forest track", inland, 1}, {"ID-KU", "Nunukan", border, 1}}},
			{country: "MYS", mode: land, w: 0.6, places: []place{{"MY-13", "Tebedu", border, 2}, {"MY-13", "Serian plantation", inland, 1}, {"MY-12", "Tawau", inland, 2}}},
		},
		w: 1.5, size: [2]int{1, 15}, female: 0.35, minor: 0.1, uam: 0.2, feeUSD: [2]float64{100, 400}, pay: payLand,
		fraud: 0.05, death: 0.002, miss: 0.002, season: seasonLand, localSus: 0.6, sus: []wstr{{"IDN", 1}},
	},
	{
		name: "phl-mys-sabah", origins: []wstr{{"PHL", 1}}, dests: []wstr{{"MYS", 1}},
		ownCit: 0.9, cit: []wstr{{"XXA", 2}, {"XXX", 1}},
		stops: []stop{
			{country: "MYS", mode: sea, w: 0.7, places: []place{{"MY-12", "off Sandakan", atSea, 2}, {"MY-12", "Sandakan harbour", port, 1}, {"MY-12", "off Semporna", atSea, 1}}},
			{country: "PHL", mode: sea, w: 0.3, places: []place{{"", "Tawi-Tawi coast", atSea, 1}, {"", "Bongao port", port, 1}}},
		},
		w: 1, size: [2]int{3, 30}, female: 0.35, minor: 0.15, uam: 0.2, feeUSD: [2]float64{100, 500}, pay: payLand,
		fraud: 0.05, death: 0.03, miss: 0.03, season: seasonStraits, localSus: 0.4, sus: []wstr{{"PHL", 1}},
	},
}

// genericOrigins are the origins of the fallback pattern for a state on no
// corridor: the main origins of irregular air arrivals in the region.
var genericOrigins = []wstr{
	{"CHN", 4}, {"VNM", 3}, {"IND", 3}, {"PHL", 2}, {"IDN", 2}, {"BGD", 2}, {"PAK", 2}, {"LKA", 1}, {"NPL", 1}, {"MMR", 1}, {"AFG", 1}, {"IRN", 1},
}

// genericCorridors builds the fallback patterns for a state on no corridor:
// air arrivals with document fraud and inland detections of overstayers, with
// no subdivision because none is known for an arbitrary state.
func genericCorridors(country string) []corridor {
	var origins []wstr
	for _, o := range genericOrigins {
		if o.v != country {
			origins = append(origins, o)
		}
	}
	return []corridor{
		{
			name: "generic-air", origins: origins, dests: []wstr{{country, 1}}, ownCit: 0.97, cit: []wstr{{"XXX", 1}},
			stops: []stop{{country: country, mode: air, w: 1, places: []place{{"", "international airport", apt, 1}}}},
			w:     2, size: [2]int{1, 4}, female: 0.4, minor: 0.05, uam: 0.3, feeUSD: [2]float64{3000, 12000}, pay: payAir,
			fraud: 0.7, visa: 0.3, season: seasonAir, localSus: 0.5,
		},
		{
			name: "generic-inland", origins: origins, dests: []wstr{{country, 1}}, ownCit: 0.97, cit: []wstr{{"XXX", 1}},
			stops: []stop{{country: country, mode: mixed, w: 1, places: []place{{"", "capital district", inland, 2}, {"", "main seaport", port, 1}}}},
			w:     1, size: [2]int{1, 12}, female: 0.35, minor: 0.08, uam: 0.2, feeUSD: [2]float64{1000, 6000}, pay: payWork,
			fraud: 0.2, visa: 0.5, death: 0.002, season: seasonLand, localSus: 0.6,
		},
	}
}

// usdRates are rough exchange rates (units per US dollar) for the currencies
// fees are reported in; synthetic amounts need magnitudes, not precision.
var usdRates = []struct {
	country, currency string
	rate              float64
}{
	{"AFG", "AFN", 70}, {"AUS", "AUD", 1.5}, {"BGD", "BDT", 118}, {"CHN", "CNY", 7.2}, {"IDN", "IDR", 15800},
	{"IND", "INR", 83}, {"IRN", "IRR", 42000}, {"KHM", "KHR", 4100}, {"LAO", "LAK", 21000}, {"LKA", "LKR", 300},
	{"MMR", "MMK", 2100}, {"MYS", "MYR", 4.6}, {"NPL", "NPR", 133}, {"NZL", "NZD", 1.65}, {"PAK", "PKR", 280},
	{"PHL", "PHP", 57}, {"THA", "THB", 35}, {"VNM", "VND", 25000},
}

// agencies are the reporting agencies of the states with corridors, by kind
// of detection; others get a generic name.
var agencies = []struct {
	country             string
	land, sea, air, any string
}{
	{"AUS", "Australian Federal Police", "Australian Border Force (Maritime)", "Australian Border Force", "Australian Federal Police"},
	{"BGD", "Bangladesh Police", "Bangladesh Coast Guard", "Bangladesh Police (Airport Armed Police)", "Bangladesh Police"},
	{"IDN", "Indonesian National Police", "Indonesian Maritime Security Agency", "Directorate General of Immigration", "Indonesian National Police"},
	{"KHM", "Cambodian National Police", "Cambodian National Police", "General Department of Immigration", "Cambodian National Police"},
	{"LAO", "Lao People's Security Force", "Lao People's Security Force", "Department of Immigration", "Lao People's Security Force"},
	{"LKA", "Sri Lanka Police", "Sri Lanka Navy", "Department of Immigration and Emigration", "Sri Lanka Police"},
	{"MMR", "Myanmar Police Force", "Myanmar Navy", "Department of Immigration", "Myanmar Police Force"},
	{"MYS", "Royal Malaysia Police", "Malaysian Maritime Enforcement Agency", "Immigration Department of Malaysia", "Royal Malaysia Police"},
	{"NPL", "Nepal Police", "Nepal Police", "Department of Immigration", "Nepal Police"},
	{"PHL", "Philippine National Police", "Philippine Coast Guard", "Bureau of Immigration", "Philippine National Police"},
	{"THA", "Royal Thai Police", "Royal Thai Marine Police", "Immigration Bureau", "Royal Thai Police"},
}
