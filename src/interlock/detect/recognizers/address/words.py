"""Word tables for street addresses, grouped by the part of an address they name.

Plain data: the regular expressions in ``forms`` are built from these tuples once, at import. Words are
written as they are spelled in addresses; a trailing dot is optional wherever ``forms`` uses them.
Regex metacharacters are escaped by ``forms``.
"""

from __future__ import annotations

# Street-type words written before the street's name, in any case ("ul. Kurantów 76", "calle Mayor 5",
# "Rua Augusta, 1500", "Via Roma 10", "Jl. Sudirman No. 5", "Rue de la Loi 16", "Strada Lipscani 5").
PREFIXES: tuple[str, ...] = (
    # Polish, Czech, Slovak, Romanian, Croatian, Slovenian
    "ul.", "ulica", "al.", "aleja", "aleje", "pl.", "plac", "os.", "osiedle", "rondo",
    "náměstí", "nám.", "třída", "tř.", "nábřeží", "námestie", "nám", "trieda",
    "strada", "str.", "drumul", "fundătura", "prelungirea", "bulevardul", "bd.", "bdul.", "calea", "aleea", "șoseaua", "soseaua", "splaiul", "piața",
    "intrarea", "trg",
    # French, Belgian, Swiss
    "rue", "avenue", "boulevard", "bd", "bvd", "chemin", "allée", "allee", "impasse", "quai", "cours", "route",
    "passage", "chaussée", "rond-point", "square", "voie", "sentier", "ruelle", "faubourg", "place",
    # Italian
    "via", "viale", "v.le", "piazza", "p.za", "piazzale", "corso", "c.so", "vicolo", "largo", "contrada",
    "lungomare", "borgo", "salita", "località", "loc.", "incrocio", "rotonda", "canale", "vico", "stretto",
    "traversa", "vicoletto", "stradone", "circonvallazione",
    # Spanish, Catalan, Galician, Latin American
    "calle", "c/", "c.", "cl.", "diag.", "carrer", "rúa", "avenida", "avda.", "av.", "avd.", "paseo", "pº", "passeig", "plaza",
    "pza.", "plaça", "carrera", "cra.", "kra.", "kr.", "carretera", "ctra.", "camino", "ronda", "travesía",
    "glorieta", "callejón", "pasaje", "cañada", "rambla", "urbanización", "urb.", "vía", "cuesta", "senda",
    "polígono", "calzada", "privada", "cerrada", "diagonal", "transversal", "circunvalar", "bulevar",
    "prolongación", "prolongacion", "circuito", "periférico", "periferico", "viaducto", "corredor", "retorno",
    "andador", "continuación", "eje", "camellón", "malecón", "pasadizo",
    # Portuguese, Brazilian
    "rua", "r.", "travessa", "tv.", "trav.", "largo", "praça", "pç.", "alameda", "al.", "estrada", "rodovia",
    "beco", "ladeira", "servidão", "jardim", "vila", "quadra", "conjunto", "setor", "núcleo", "residencial",
    "loteamento", "chácara", "sítio", "fazenda", "condomínio", "viela", "vereda", "trecho", "esplanada", "recanto",
    "parque", "favela", "lagoa", "morro", "pátio", "trevo", "viaduto", "passarela", "colônia", "estação",
    # Dutch
    "laan",
    # Latin-script Asian: Malay/Indonesian, Thai, Vietnamese, Filipino, Turkish
    "jalan", "jl.", "jln.", "lorong", "persiaran", "lebuh", "lebuhraya", "gg.",
    "soi", "thanon", "thn.", "đường", "phố", "ngõ", "hẻm", "kiệt",
    "barangay", "brgy.",
    "sokak", "caddesi", "cad.",
)

# Czech and Slovak street names that are a preposition and a noun ("Na Průhonu 465", "U Nemocnice 2"):
# matched only capitalised, because in lower case they are ordinary words in many languages.
# German ones likewise ("Am Markt 3", "An der Alster 7"), and the Indonesian alley ("Gang Kutai No. 736").
PREPOSITIONS: tuple[str, ...] = ("Na", "Nad", "Pod", "Za", "Před", "Pred", "Ke", "Ve", "U", "K", "V", "Gang",
                                 "Am", "An der", "Auf der", "Auf dem", "Im", "In der", "Zum", "Zur", "Unter den",
                                 "Hinter der")

# Street-type words written after the name as a word of their own ("Baker Street", "Váci utca 12",
# "Berliner Straße 5", "Brīvības iela 5", "Pärnu mnt 5", "İstiklal Caddesi No: 5").
SUFFIX_WORDS: tuple[str, ...] = (
    # German, Austrian, Swiss (after an adjective: "Berliner Straße", "Alte Gasse")
    "Straße", "Strasse", "Str.", "Weg", "Allee", "Platz", "Gasse", "Damm", "Ufer", "Chaussee", "Ring", "Markt",
    "Steig", "Pfad", "Gässli",
    # Hungarian
    "utca", "u.", "út", "útja", "tér", "tere", "körút", "krt.", "köz", "sétány", "rakpart", "fasor",
    # Baltic, Slavic, Nordic written apart
    "iela", "gatvė", "g.", "prospektas", "pr.", "tänav", "tn", "maantee", "mnt", "puiestee", "pst", "cesta",
    "ulica", "ul.", "náměstí", "nám.", "trg", "gate", "vei", "veg", "vej", "gade", "allé", "plads", "gatan",
    "vägen", "gränd", "torget", "katu", "tie", "kuja", "terrasse", "veien", "plass", "gata",
    # Turkish
    "Caddesi", "Cad.", "Cd.", "Sokak", "Sokağı", "Sk.", "Sok.", "Bulvarı", "Blv.", "Mahallesi", "Mah.",
    # Dutch and Belgian
    "straat", "laan", "weg", "plein", "gracht", "kade", "singel", "dijk", "steeg",
)

# Street-type endings joined to the name ("Hauptstraße 5a", "Storgatan 12", "Vesterbrogade 3",
# "Mannerheimintie 5", "Keizersgracht 123", "Teheran-ro 152").
JOINED_SUFFIXES: tuple[str, ...] = (
    "straße", "strasse", "str.", "ring", "gasse", "hof", "zeile", "gürtel", "kai", "lände", "graben", "brücke", "gässli", "weg", "allee", "platz", "damm", "ufer", "chaussee", "steig",
    "pfad", "markt",
    "straat", "laan", "gracht", "kade", "plein", "singel", "dijk", "steeg", "dreef", "lei",
    "gatan", "vägen", "gränd", "torget", "stigen", "backen", "allén", "gata", "gate", "veien", "vegen", "vei",
    "veg", "plass", "vej", "gade", "allé", "plads", "stræde", "torv", "vænget",
    "katu", "tie", "kuja", "polku", "tori", "kaari", "rinne", "ranta", "väylä", "vegur", "braut", "stígur",
    "utca", "útja", "körút",
    "-ro", "-gil", "-daero", "-dong",
)

# Street types written after a name that a house number precedes ("221B Baker Street", "1600 Pennsylvania
# Avenue NW", "350 5th Ave", "12 MG Road").
ENGLISH_SUFFIXES: tuple[str, ...] = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr",
    "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Ter", "Terr", "Parkway", "Pkwy", "Highway", "Hwy", "Circle",
    "Cir", "Square", "Sq", "Close", "Crescent", "Cres", "Gardens", "Gdns", "Row", "Mews", "Grove", "Gr",
    "Hill", "Park", "Walk", "Green", "Parade", "Pde", "Esplanade", "Quay", "Wharf", "Rise", "View", "Vale",
    "Trail", "Trl", "Pike", "Loop", "Alley", "Aly", "Plaza", "Plz", "Broadway", "Expressway", "Expy",
    "Freeway", "Fwy", "Turnpike", "Tpke", "Route", "Rte", "Crossing", "Xing", "Point", "Pt", "Ridge", "Run",
    "Path", "Bend", "Cove", "Glen", "Heights", "Hts", "Meadow", "Meadows", "Brook", "Creek", "Landing",
    "Marg", "Nagar", "Gali", "Chowk",
    # USPS and Australian standard street types that are not everyday words after a name and a number
    "Amble", "Approach", "Arcade", "Boardwalk", "Brae", "Bypass", "Causeway", "Circuit", "Concourse", "Copse",
    "Corso", "Cliff", "Cliffs", "Crest", "Dale", "Driveway", "Estate", "Estates", "Fairway", "Ferry", "Footway",
    "Frontage", "Gateway", "Glade", "Grange", "Harbor", "Harbour", "Haven", "Highroad", "Hollow", "Inlet",
    "Junction", "Knoll", "Lookout", "Manor", "Meander", "Motorway", "Orchard", "Outlook", "Overpass", "Pathway",
    "Plains", "Promenade", "Quays", "Ramble", "Serviceway", "Shoal", "Siding", "Skyway", "Stravenue",
    "Throughway", "Thoroughfare", "Tollway", "Trafficway", "Underpass", "Viaduct", "Walkway", "Wynd",
)

# Street-type words a house number precedes in French, Vietnamese and other number-first locales
# ("12 rue de la Paix", "5, avenue Foch", "123 Đường Lê Lợi").
NUMBER_FIRST_ROUTES: tuple[str, ...] = (
    "rue", "avenue", "av.", "boulevard", "bd", "bvd", "chemin", "allée", "impasse", "quai", "cours", "route",
    "place", "square", "passage", "voie", "rond-point", "chaussée", "sentier", "faubourg", "ruelle", "montée", "rang",
    "côte", "croissant", "terrasse", "promenade",
    "đường", "phố", "ngõ", "hẻm", "jalan", "jl.", "jln.", "soi", "thanon", "calle", "avenida", "rua",
)

# Apartment, suite and floor designators after (or before) the street line.
UNITS: tuple[str, ...] = (
    "Apt", "Apartment", "Suite", "Ste", "Unit", "Flat", "Floor", "Fl", "Room", "Rm", "Bldg", "Building", "Block",
    "Level", "Lvl", "Edif", "Edificio", "Edifício", "Piano",
    "Piso", "Planta", "Puerta", "Pta", "Esc", "Escalera", "Dpto", "Depto", "Departamento", "Interior", "Int",
    "Andar", "Apto", "Sala", "Bloco", "Casa", "Lote", "Étage", "Etage", "Bât", "Bâtiment", "Appartement", "App",
    "Appartamento", "Local", "Studio", "Bl", "Bloc", "Sc", "Scara", "Et", "Etaj", "Ap", "Apartament", "Wohnung", "Whg", "Stock", "OG", "Stiege", "Tür", "Top", "Lgh", "Lok", "m.", "Scala", "Interno", "Int",
    "Blok", "Tingkat", "Lantai",
)

# Post-office boxes, with the number that must follow ("PO Box 4521", "Postfach 10 01 23", "BP 1234").
PO_BOXES: tuple[str, ...] = (
    "P.O. Box", "PO Box", "P. O. Box", "P.O.Box", "POB", "Post Office Box", "Postfach", "Postbus", "Postboks",
    "Postbox", "Boîte postale", "Boite postale", "B.P.", "BP", "Apartado de correos", "Apartado", "Apdo.",
    "Apartado postal", "Caixa Postal", "Cx. Postal", "C.P.", "Casilla", "Casilla de correo", "Casella postale",
    "Skrytka pocztowa", "Box", "PL", "Pf.", "Postilokero", "Pošt. přihr.", "P.P.", "Postafiók", "Pf",
)

# Districts and neighbourhoods written between the street and the postcode line.
DISTRICTS: tuple[str, ...] = (
    "Col.", "Colonia", "Bairro", "Barrio", "Brgy.", "Barangay", "Quận", "Q.", "Phường", "P.", "Huyện", "Xã",
    "Kel.", "Kec.", "Kelurahan", "Kecamatan", "Kab.", "Kabupaten", "Mah.", "Mahallesi", "Tambon", "Amphoe",
    "Khet", "Khwaeng", "Sector", "Distrito", "Sektor", "Taman", "RT", "RW", "Moo", "tỉnh", "thành phố", "TP.",
    "thị xã", "thị trấn", "Kota", "Desa", "Dusun", "Alcaldía", "Del.", "Mun.", "Changwat", "Kab.", "Prov.",
)

# Two-letter codes of US states, districts and territories, and of Canadian provinces.
US_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "GU", "VI",
    "AS", "MP", "PW", "FM", "MH",
)
CA_PROVINCES: tuple[str, ...] = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")

# Country names that end an address block, in English and in their own languages.
COUNTRIES: tuple[str, ...] = (
    "United States of America", "United States", "USA", "U.S.A.", "US", "United Kingdom", "UK", "U.K.",
    "Great Britain", "England", "Scotland", "Wales", "Northern Ireland", "Ireland", "Éire", "Canada",
    "Germany", "Deutschland", "France", "Spain", "España", "Italy", "Italia", "Portugal", "Netherlands",
    "The Netherlands", "Nederland", "Belgium", "België", "Belgique", "Belgien", "Luxembourg", "Luxemburg",
    "Switzerland", "Schweiz", "Suisse", "Svizzera", "Austria", "Österreich", "Poland", "Polska",
    "Czech Republic", "Czechia", "Česko", "Česká republika", "Slovakia", "Slovensko", "Hungary",
    "Magyarország", "Romania", "România", "Bulgaria", "Croatia", "Hrvatska", "Slovenia", "Slovenija", "Serbia",
    "Srbija", "Greece", "Ellada", "Sweden", "Sverige", "Norway", "Norge", "Denmark", "Danmark", "Finland",
    "Suomi", "Iceland", "Ísland", "Estonia", "Eesti", "Latvia", "Latvija", "Lithuania", "Lietuva", "Ukraine",
    "Ukraina", "Turkey", "Türkiye", "Mexico", "México", "Brazil", "Brasil", "Argentina", "Chile", "Colombia",
    "Peru", "Perú", "Venezuela", "Ecuador", "Bolivia", "Uruguay", "Paraguay", "Costa Rica", "Panama", "Panamá",
    "Guatemala", "Honduras", "El Salvador", "Nicaragua", "Cuba", "Dominican Republic", "República Dominicana",
    "Puerto Rico", "Japan", "Nippon", "South Korea", "Korea", "Republic of Korea", "Indonesia", "Malaysia",
    "Singapore", "Thailand", "Vietnam", "Viet Nam", "Việt Nam", "Philippines", "Pilipinas", "India",
    "Australia", "New Zealand", "South Africa", "Israel", "China",
    # Official long forms and more European countries
    "Kingdom of the Netherlands", "Republic of Ireland", "Federal Republic of Germany", "Bundesrepublik Deutschland",
    "French Republic", "Kingdom of Spain", "Italian Republic", "Portuguese Republic", "Kingdom of Belgium",
    "Kingdom of Denmark", "Kingdom of Sweden", "Kingdom of Norway", "Republic of Poland", "Republic of Austria",
    "Swiss Confederation", "Grand Duchy of Luxembourg", "Republic of Finland", "Hellenic Republic",
    "Slovak Republic", "Republic of Croatia", "Republic of Slovenia", "Republic of Estonia", "Republic of Latvia",
    "Republic of Lithuania", "United Mexican States", "Federative Republic of Brazil", "Argentine Republic",
    "Malta", "Cyprus", "Monaco", "Liechtenstein", "Andorra", "San Marino", "Moldova", "Albania", "Montenegro",
    "North Macedonia", "Bosnia and Herzegovina", "Kosovo", "Belarus", "Georgia", "Armenia",
)

# Capitalised words that, before a number, name something other than a street ("Order 12345",
# "Windows 10", "Room 4"): a candidate whose street name is one of these is dropped.
NOT_STREETS: frozenset[str] = frozenset(w.casefold() for w in (
    "Order", "Orders", "Version", "Ver", "Release", "Build", "Page", "Pages", "Chapter", "Step",
    "Steps", "Item", "Items", "Model", "Table", "Line", "Lines", "Sprint", "Phase", "Ticket",
    "Issue", "Invoice", "Case", "Section", "Figure", "Fig", "Part", "Season", "Episode", "Volume", "Vol",
    "Windows", "Office", "iPhone", "Python", "Java", "Node", "Series", "Plan", "Tier", "Grade", "Class", "Year",
    "Years", "Week", "Weeks", "Day", "Days", "Month", "Months", "Row", "Seat", "Flight", "Bus", "Train",
    "Platform", "Terminal", "Track", "Exit", "Gate", "Highway", "Interstate", "Chart", "Article", "Paragraph", "Rule",
    "Question", "Answer", "Task", "Test", "Tests", "Lesson", "Module", "Group", "Team", "Teams",
    "Player", "Players", "Stage", "Round", "Match", "Game", "Games", "Act", "Scene", "Verse", "Psalm",
    "Genesis", "Exodus", "Apollo", "Boeing", "Airbus", "Galaxy", "Pixel", "Note", "Mark", "Mac", "Ubuntu",
    "Debian", "Fedora", "Android", "Java", "Angular", "React", "Vue", "Django", "Rails", "Postgres",
    "PostgreSQL", "MySQL", "Redis", "Kafka", "Spark", "Docker", "Kubernetes", "Terraform", "Ansible", "Node",
    "Deno", "Go", "Rust", "Swift", "Kotlin", "Scala", "Perl", "Ruby", "PHP", "Excel", "Word", "Outlook",
    "Teams", "Slack", "Zoom", "Chrome", "Firefox", "Safari", "Edge", "Opera", "Xbox", "PlayStation", "Switch",
    "Wii", "Fortnite", "Minecraft", "Halo", "Portal", "Doom", "Quake", "Final", "Fantasy", "Star", "Wars",
    "Trek", "Toy", "Story", "Shrek", "Frozen", "Cars", "Iron", "Man", "Spider", "Thor", "Avengers",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October", "November", "December", "Jan", "Feb",
    "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Spring", "Summer", "Autumn", "Fall",
    "Winter", "RFC", "ISO", "IEEE", "PEP", "CVE", "CWE", "ECMA", "ANSI", "DIN", "EN", "OS", "String", "Bring", "Offspring", "Keyring", "Earring", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag", "Januar", "Februar",
    "März", "Juni", "Juli", "Oktober", "Dezember", "Uhr", "Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi",
    "Samedi", "Dimanche", "Lunes", "Martes", "Miércoles", "Jueves", "Viernes", "Sábado", "Domingo", "Enero",
    "Febrero", "Marzo", "Abril", "Mayo", "Junio", "Julio", "Agosto", "Septiembre", "Octubre", "Noviembre",
    "Diciembre", "Lunedì", "Martedì", "Mercoledì", "Giovedì", "Venerdì", "Sabato", "Domenica", "Total", "Subtotal", "Amount", "Price", "Qty", "Quantity", "Balance", "Score", "Points",
    "Rank", "Vision", "Mission", "Goal", "Goals", "Option", "Options", "Error", "Errors", "Warning",
    "Code", "Status", "Port", "Channel", "Slide", "Slides", "Sheet", "Tab", "Column", "Cell", "Block",
    "Bay", "Dock", "Hall", "Cabin", "Deck", "Gen", "Generation", "Edition", "Ed", "Issue", "Id", "ID", "Ref", "Reference", "Account", "Acct", "Customer", "Client", "User", "Users",
    "Patient", "Employee", "Staff", "Agent", "Worker", "Node", "Server", "Cluster", "Region", "Zone", "Shard",
    "Replica", "Pod", "Pods", "Job", "Jobs", "Batch", "Run", "Runs", "Attempt", "Retry", "Try", "Sample",
    "Samples", "Trial", "Dose", "Day", "Hour", "Hours", "Minute", "Minutes", "Second", "Seconds", "Min", "Max",
    "Size", "Width", "Height", "Depth", "Weight", "Age", "Aged", "Volume", "Temp", "Temperature", "Speed",
    "Story", "Ward", "Bed", "Beds", "Cage",
    "Shelf", "Aisle", "Pier", "Berth", "Stand", "Booth", "Desk", "Counter", "Window", "Door",
    "Windows", "Mac", "Linux", "Iphone", "Ipad", "Ios", "Tiger", "Leopard", "Catalina", "Monterey", "Ventura",
    "Sonoma", "Sequoia", "Python3", "Java8", "Es", "Es6", "Html", "Css", "Http", "Tls", "Ssl", "Ipv", "Usb",
    "Wave", "Layer", "Tier", "Core", "Cores", "Thread", "Threads", "Gpu", "Cpu", "Ram", "Disk", "Drive",
))

# Articles and determiners: a street line does not start with one ("Die Straße 5 Minuten entfernt"). Romance
# definite articles are left out: they start street names ("Los Laureles 1076", "La Rambla 5").
NOT_STREET_START: frozenset[str] = frozenset({
    "the", "a", "an", "this", "that", "these", "those", "our", "my", "your", "his", "her", "their", "its", "die",
    "der", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "un", "une", "um", "uma", "een", "every",
    "each", "some",
})

# Words near an address that make a candidate more likely one: labels and verbs of living, sending and
# delivering in the major European languages.
CONTEXT: tuple[str, ...] = (
    "address", "addr", "addresses", "live", "lives", "living", "lived", "reside", "resides", "residence",
    "resident", "ship", "shipping", "deliver", "delivery", "mail", "mailing", "postal", "postcode",
    "zip", "located", "home", "billing", "street", "visit", "moved", "move", "apartment", "flat", "house",
    "headquarters", "courier", "parcel", "package", "pickup", "pick up",
    # German, Dutch, Nordic
    "adresse", "anschrift", "wohnhaft", "wohne", "wohnt", "wohnen", "lieferadresse", "rechnungsadresse",
    "straße", "strasse", "plz", "postleitzahl", "adres", "woon", "woont", "woonachtig", "postcode",
    "adress", "bosted", "gatuadress", "postnummer", "osoite", "asun", "asuu", "postinumero",
    # French, Italian, Spanish, Portuguese, Catalan
    "domicile", "habite", "habitons", "livraison", "facturation", "domicilié", "demeurant", "indirizzo",
    "abito", "abita", "residenza", "domicilio", "consegna", "spedizione", "dirección", "direccion",
    "vivo", "vive", "envío", "envio", "entrega", "código", "codigo", "endereço", "endereco",
    "morada", "cep", "adreça",
    # Central and eastern European, Baltic
    "adresa", "adresą", "adresu", "adresem", "mieszkam", "mieszka", "zamieszkały", "zamieszkania", "bydlím",
    "bydliště", "bydlisko", "psč", "cím", "címe", "lakcím", "lakik", "adresă", "adresa", "domiciliu",
    "locuiesc", "aadress", "elukoht", "adrese", "dzīvoju", "adresas", "gyvenu", "adresi", "ikamet",
    # Latin-script Asian
    "alamat", "tinggal", "địa", "chỉ", "tirahan", "nakatira", "jusho", "juso",
)
