package codes

import (
	"slices"
	"sort"
)

// ICCS is one category of the UNODC International Classification of Crime
// for Statistical Purposes (ICCS, version 1.0, 2015). Codes are hierarchical:
// two digits for a section, four for a level-2 category, five and six for
// levels 3 and 4.
type ICCS struct {
	// Code is the ICCS code, e.g. "08051".
	Code string
	// Name is the category's English name.
	Name string
	// Parent is the code of the enclosing category, empty for a section.
	Parent string
}

// iccs is the built-in subset of ICCS, sorted by code. It holds the eleven
// sections; in full where the smuggling of migrants and its related conduct
// live (02 acts against liberty, slavery and trafficking in persons; 07
// fraud, forgery of documents, corruption and proceeds of crime; 08 acts
// related to migration); and the level-2 neighbours national systems most
// often record alongside them. Categories whose code or name could not be
// stated with confidence are left out rather than guessed: a node rejects an
// unknown code, and a wrong name would mislabel the regional picture.
var iccs = []ICCS{
	{"01", "Acts leading to death or intending to cause death", ""},
	{"0101", "Intentional homicide", "01"},
	{"0102", "Attempted intentional homicide", "01"},
	{"0103", "Non-intentional homicide", "01"},
	{"02", "Acts causing harm or intending to cause harm to the person", ""},
	{"0201", "Assaults and threats", "02"},
	{"02011", "Assault", "0201"},
	{"02012", "Threat", "0201"},
	{"0202", "Acts against liberty", "02"},
	{"02021", "Abduction of a minor", "0202"},
	{"02022", "Deprivation of liberty", "0202"},
	{"020221", "Kidnapping", "02022"},
	{"02029", "Other acts against liberty", "0202"},
	{"020291", "Illegal adoption", "02029"},
	{"020292", "Forced marriage", "02029"},
	{"0203", "Slavery and exploitation", "02"},
	{"02031", "Slavery", "0203"},
	{"02032", "Forced labour", "0203"},
	{"0204", "Trafficking in persons", "02"},
	{"02041", "Trafficking in persons for sexual exploitation", "0204"},
	{"02042", "Trafficking in persons for forced labour or services", "0204"},
	{"02043", "Trafficking in persons for organ removal", "0204"},
	{"02049", "Trafficking in persons for other purposes", "0204"},
	{"03", "Injurious acts of a sexual nature", ""},
	{"0301", "Sexual violence", "03"},
	{"0302", "Sexual exploitation", "03"},
	{"04", "Acts against property involving violence or threat against a person", ""},
	{"0401", "Robbery", "04"},
	{"05", "Acts against property only", ""},
	{"0501", "Burglary", "05"},
	{"0502", "Theft", "05"},
	{"06", "Acts involving controlled psychoactive substances or other drugs", ""},
	{"07", "Acts involving fraud, deception or corruption", ""},
	{"0701", "Fraud", "07"},
	{"07011", "Financial fraud", "0701"},
	{"07019", "Other acts of fraud", "0701"},
	{"0702", "Forgery/counterfeiting", "07"},
	{"07021", "Forgery/counterfeiting of means of payment", "0702"},
	{"07022", "Forgery/counterfeiting of products", "0702"},
	{"07023", "Forgery/counterfeiting of documents", "0702"},
	{"07029", "Other acts of forgery/counterfeiting", "0702"},
	{"0703", "Corruption", "07"},
	{"07031", "Bribery", "0703"},
	{"070311", "Active bribery", "07031"},
	{"070312", "Passive bribery", "07031"},
	{"0704", "Acts involving proceeds of crime", "07"},
	{"07041", "Money laundering", "0704"},
	{"08", "Acts against public order, authority and provisions of the State", ""},
	{"0805", "Acts related to migration", "08"},
	{"08051", "Smuggling of migrants", "0805"},
	{"08059", "Other unlawful acts related to migration", "0805"},
	{"09", "Acts against public safety and state security", ""},
	{"10", "Acts against the natural environment", ""},
	{"11", "Other criminal acts not elsewhere classified", ""},
}

// LookupICCS returns the built-in ICCS category with the given code.
func LookupICCS(code string) (ICCS, bool) {
	i := sort.Search(len(iccs), func(i int) bool { return iccs[i].Code >= code })
	if i < len(iccs) && iccs[i].Code == code {
		return iccs[i], true
	}
	return ICCS{}, false
}

// IsICCS reports whether code is an ICCS code in the built-in subset.
func IsICCS(code string) bool {
	_, ok := LookupICCS(code)
	return ok
}

// ICCSName returns the English name of an ICCS code in the built-in subset.
func ICCSName(code string) (string, bool) {
	c, ok := LookupICCS(code)
	return c.Name, ok
}

// ICCSCodes returns the built-in ICCS categories sorted by code. The slice is
// a copy: callers may change it.
//
// The built-in subset: the eleven sections 01 to 11; 0101-0103 (homicide);
// 0201 assaults and threats (02011, 02012); 0202 acts against liberty (02021,
// 02022, 020221 kidnapping, 02029, 020291 illegal adoption, 020292 forced
// marriage); 0203 slavery and exploitation (02031, 02032); 0204 trafficking
// in persons (02041-02043, 02049); 0301, 0302; 0401 robbery; 0501 burglary;
// 0502 theft; 0701 fraud (07011, 07019); 0702 forgery/counterfeiting (07021,
// 07022, 07023 documents, 07029); 0703 corruption (07031 bribery, 070311,
// 070312); 0704 proceeds of crime (07041 money laundering); 0805 acts related
// to migration (08051 smuggling of migrants, 08059 other).
func ICCSCodes() []ICCS {
	return slices.Clone(iccs)
}
