"""The demo data set behind ``flask fieldcrm demo`` and ``make run``.

Seven users (an admin, a manager, five reps, all with the password
``fieldcrm-demo``), five sales territories cut by postal-code prefix, a few
hundred customers with real street names, real postal codes and coordinates
around real German city centres, their contacts, a product catalogue, the
last three months of visits, notes, orders and follow-ups on each customer's
cadence, and a history that reads like a few years of work. Everything comes
from one seeded ``random.Random``, so two loads produce the same data (dates
are relative to the day of loading).

The loader only ever writes to a database that has no users or exactly the
demo users; anything else raises ``DemoRefused`` before a single row is written.
"""

import math
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from .auth import hash_password
from .extensions import db
from .models import (
    Contact,
    Customer,
    Followup,
    History,
    Note,
    Order,
    OrderLine,
    Product,
    Territory,
    User,
    Visit,
)
from .orders.pricing import LineInput, price_order

DEMO_PASSWORD = "fieldcrm-demo"  # noqa: S105  (public by design, printed by make run)
DEMO_SEED = 2026


class DemoRefused(Exception):
    """The database holds data that is not the demo's; nothing was written."""


@dataclass(frozen=True)
class City:
    """A city the demo places customers in: centre, spread, area code, streets with their PLZ."""

    name: str
    lat: float
    lon: float
    spread_km: float
    area_code: str
    weight: int
    streets: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DemoTerritory:
    name: str
    postal_codes: tuple[str, ...]
    rep_email: str
    rep_name: str
    cities: tuple[City, ...]
    northern: bool


def _city(name, lat, lon, spread_km, area_code, weight, streets: str) -> City:
    pairs = tuple(tuple(item.rsplit(" ", 1)) for item in streets.split("; "))
    return City(name, lat, lon, spread_km, area_code, weight, pairs)


TERRITORIES = (
    DemoTerritory("Hamburg/Nord", ("20", "21", "22", "24", "28", "30"),
                  "rep1@example.com", "Jan Petersen", (
        _city("Hamburg", 53.5511, 9.9937, 5.0, "40", 32,
              "Mönckebergstraße 20095; Spitalerstraße 20095; Jungfernstieg 20354; Lange Reihe 20099; "
              "Grindelallee 20146; Eppendorfer Baum 20249; Osterstraße 20259; Schanzenstraße 20357; "
              "Reeperbahn 20359; Holstenstraße 22767; Ottenser Hauptstraße 22765; "
              "Bahrenfelder Straße 22765; Mühlenkamp 22303; Fuhlsbüttler Straße 22305; "
              "Wandsbeker Marktstraße 22041; Sachsentor 21029"),
        _city("Hannover", 52.3759, 9.7320, 3.0, "511", 12,
              "Georgstraße 30159; Bahnhofstraße 30159; Lister Meile 30161; Podbielskistraße 30163; "
              "Engelbosteler Damm 30167; Hildesheimer Straße 30169; Sallstraße 30171; "
              "Limmerstraße 30451"),
        _city("Bremen", 53.0793, 8.8017, 3.0, "421", 10,
              "Obernstraße 28195; Sögestraße 28195; Am Wall 28195; Ostertorsteinweg 28203; "
              "Schwachhauser Heerstraße 28209; Findorffstraße 28215; Waller Heerstraße 28219"),
        _city("Kiel", 54.3233, 10.1228, 2.0, "431", 6,
              "Holstenstraße 24103; Dänische Straße 24103; Knooper Weg 24103; "
              "Holtenauer Straße 24105; Eckernförder Straße 24116"),
    ), True),
    DemoTerritory("Berlin/Ost", ("01", "04", "10", "12", "13", "14"),
                  "rep2@example.com", "Katrin Vogel", (
        _city("Berlin", 52.5200, 13.4050, 6.0, "30", 38,
              "Friedrichstraße 10117; Torstraße 10119; Greifswalder Straße 10405; "
              "Kastanienallee 10435; Schönhauser Allee 10437; Frankfurter Allee 10247; "
              "Wilmersdorfer Straße 10627; Kurfürstendamm 10719; Bergmannstraße 10961; "
              "Oranienstraße 10999; Karl-Marx-Straße 12043; Sonnenallee 12047; "
              "Tempelhofer Damm 12101; Schloßstraße 12163; Müllerstraße 13353"),
        _city("Leipzig", 51.3397, 12.3731, 3.0, "341", 10,
              "Grimmaische Straße 04109; Petersstraße 04109; Georg-Schumann-Straße 04155; "
              "Karl-Heine-Straße 04229; Könneritzstraße 04229; Karl-Liebknecht-Straße 04275; "
              "Eisenbahnstraße 04315; Prager Straße 04317"),
        _city("Dresden", 51.0504, 13.7373, 3.0, "351", 8,
              "Wilsdruffer Straße 01067; Prager Straße 01069; Hauptstraße 01097; "
              "Alaunstraße 01099; Louisenstraße 01099; Königsbrücker Straße 01099; "
              "Bautzner Straße 01099; Kesselsdorfer Straße 01159"),
        _city("Potsdam", 52.3906, 13.0645, 2.0, "331", 4,
              "Brandenburger Straße 14467; Friedrich-Ebert-Straße 14467; Breite Straße 14467; "
              "Zeppelinstraße 14471"),
    ), True),
    DemoTerritory("Rhein-Ruhr", ("40", "44", "45", "47", "50", "51"),
                  "rep3@example.com", "Mehmet Yilmaz", (
        _city("Köln", 50.9375, 6.9603, 4.0, "221", 20,
              "Hohe Straße 50667; Schildergasse 50667; Neusser Straße 50670; Ehrenstraße 50672; "
              "Venloer Straße 50672; Aachener Straße 50674; Zülpicher Straße 50674; "
              "Severinstraße 50678; Berrenrather Straße 50937; Frankfurter Straße 51065"),
        _city("Düsseldorf", 51.2277, 6.7735, 3.0, "211", 14,
              "Königsallee 40212; Schadowstraße 40212; Bolkerstraße 40213; Lorettostraße 40219; "
              "Kölner Straße 40227; Ackerstraße 40233; Nordstraße 40477; Luegallee 40545"),
        _city("Essen", 51.4556, 7.0116, 3.0, "201", 10,
              "Kettwiger Straße 45127; Limbecker Straße 45127; Rüttenscheider Straße 45130; "
              "Alfredstraße 45131; Steeler Straße 45138; Altendorfer Straße 45143; "
              "Frohnhauser Straße 45143"),
        _city("Dortmund", 51.5136, 7.4653, 3.0, "231", 10,
              "Ostenhellweg 44135; Brückstraße 44135; Märkische Straße 44135; "
              "Westenhellweg 44137; Kampstraße 44137; Rheinische Straße 44137; Hohe Straße 44139"),
        _city("Duisburg", 51.4344, 6.7623, 2.5, "203", 6,
              "Königstraße 47051; Sonnenwall 47051; Düsseldorfer Straße 47051; "
              "Mülheimer Straße 47057; Weseler Straße 47169"),
    ), False),
    DemoTerritory("Rhein-Main", ("55", "60", "63", "64", "65"),
                  "rep4@example.com", "Sandra Becker", (
        _city("Frankfurt am Main", 50.1109, 8.6821, 3.5, "69", 30,
              "Kaiserstraße 60311; Zeil 60313; Große Friedberger Straße 60313; "
              "Hanauer Landstraße 60314; Berger Straße 60316; Oeder Weg 60318; "
              "Eschersheimer Landstraße 60322; Mainzer Landstraße 60329; "
              "Leipziger Straße 60487; Schweizer Straße 60594; Königsteiner Straße 65929"),
        _city("Wiesbaden", 50.0782, 8.2398, 2.5, "611", 10,
              "Wilhelmstraße 65183; Kirchgasse 65183; Langgasse 65183; Bleichstraße 65183; "
              "Rheinstraße 65185; Dotzheimer Straße 65185; Biebricher Allee 65187"),
        _city("Mainz", 49.9929, 8.2473, 2.0, "6131", 9,
              "Ludwigsstraße 55116; Große Bleiche 55116; Augustinerstraße 55116; "
              "Kaiserstraße 55116; Boppstraße 55118; Rheinallee 55118"),
        _city("Darmstadt", 49.8728, 8.6512, 2.0, "6151", 7,
              "Wilhelminenstraße 64283; Elisabethenstraße 64283; Ernst-Ludwig-Straße 64283; "
              "Kranichsteiner Straße 64289; Frankfurter Straße 64293"),
        _city("Offenbach am Main", 50.0956, 8.7761, 1.5, "69", 4,
              "Frankfurter Straße 63065; Herrnstraße 63065; Waldstraße 63071; "
              "Bieberer Straße 63071"),
    ), False),
    DemoTerritory("Süd", ("70", "80", "81", "86", "90"),
                  "rep5@example.com", "Lukas Huber", (
        _city("München", 48.1374, 11.5755, 4.0, "89", 28,
              "Kaufingerstraße 80331; Sendlinger Straße 80331; Theresienstraße 80333; "
              "Lindwurmstraße 80337; Landsberger Straße 80339; Fraunhoferstraße 80469; "
              "Leonrodstraße 80634; Schellingstraße 80799; Hohenzollernstraße 80801; "
              "Leopoldstraße 80802; Rosenheimer Straße 81669; Weißenburger Straße 81667; "
              "Wörthstraße 81667; Plinganserstraße 81369"),
        _city("Stuttgart", 48.7758, 9.1829, 3.0, "711", 14,
              "Königstraße 70173; Calwer Straße 70173; Hauptstätter Straße 70173; "
              "Marienstraße 70178; Rotebühlstraße 70178; Tübinger Straße 70178; "
              "Hohenheimer Straße 70184; Schwabstraße 70197; Marktstraße 70372"),
        _city("Nürnberg", 49.4521, 11.0767, 2.5, "911", 11,
              "Karolinenstraße 90402; Königstraße 90402; Breite Gasse 90402; "
              "Pirckheimerstraße 90408; Fürther Straße 90429; Gibitzenhofstraße 90443; "
              "Allersberger Straße 90461; Äußere Sulzbacher Straße 90491"),
        _city("Augsburg", 48.3705, 10.8978, 2.0, "821", 7,
              "Maximilianstraße 86150; Annastraße 86150; Bahnhofstraße 86150; Karlstraße 86150; "
              "Jakoberstraße 86152; Donauwörther Straße 86154"),
    ), False),
)

STAFF = (
    ("admin@example.com", "Andreas Wolff", "admin"),
    ("manager@example.com", "Claudia Hartmann", "manager"),
)
DEMO_LOGINS = tuple([email for email, _, _ in STAFF] + [t.rep_email for t in TERRITORIES])
DEMO_EMAILS = frozenset(DEMO_LOGINS)

SURNAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
    "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
    "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze",
    "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs",
    "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert", "Vogel",
    "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz",
    "Baumann", "Franke", "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus",
    "Martin", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto", "Sommer", "Groß",
    "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Dietrich", "Ziegler",
    "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Voigt", "Sauer", "Arnold",
    "Pfeiffer", "Hansen", "Petersen", "Jensen", "Thomsen", "Nowak", "Kowalski", "Yilmaz",
    "Kaya", "Demir", "Öztürk", "Popović", "Schütte", "Brinkmann", "Kötter", "Oberhuber",
    "Eder",
)
FEMALE_NAMES = (
    "Anna", "Julia", "Laura", "Lena", "Sarah", "Katharina", "Sabine", "Petra", "Claudia",
    "Andrea", "Monika", "Susanne", "Stefanie", "Nicole", "Birgit", "Christina", "Sandra",
    "Melanie", "Jana", "Lisa", "Marie", "Sophie", "Elif", "Zeynep", "Agnieszka", "Heike",
)
MALE_NAMES = (
    "Thomas", "Michael", "Andreas", "Stefan", "Frank", "Markus", "Christian", "Peter",
    "Jürgen", "Klaus", "Uwe", "Jan", "Tobias", "Florian", "Sebastian", "Daniel", "Alexander",
    "Martin", "Matthias", "Oliver", "Dirk", "Ralf", "Holger", "Jens", "Sven", "Lukas",
    "Felix", "Mehmet", "Murat", "Piotr", "Hans", "Wolfgang",
)
APOTHECARY = ("Löwen", "Adler", "Rats", "Stern", "Sonnen", "Linden", "Hirsch", "Einhorn",
              "Engel", "Markt", "Park", "Bahnhof", "Rosen", "Kronen", "Schloss")
PLACES = ("am Markt", "am Rathaus", "am Bahnhof", "am Stadtpark", "im Zentrum", "am Dom",
          "an der Kirche", "am Ring")

OPEN_SHOP = "Mo-Fr 09:00-18:30; Sa 09:00-16:00"
OPEN_CRAFT = "Mo-Th 07:30-16:30; Fr 07:30-14:00"
OPEN_OFFICE = "Mo-Fr 08:00-17:00"
OPEN_BAKERY = "Mo-Fr 06:30-18:00; Sa 06:30-13:00; Su 08:00-11:00"
OPEN_FOOD = "Mo-Fr 07:30-18:30; Sa 07:30-14:00"
OPEN_GASTRO = "Tu-Su 11:30-14:30,17:30-22:00"
OPEN_CAFE = "Mo-Sa 08:00-18:00; Su 10:00-18:00"
OPEN_HEALTH = "Mo-Th 08:00-18:00; Fr 08:00-13:00"
OPEN_PHARMACY = "Mo-Fr 08:30-18:30; Sa 09:00-13:00"
OPEN_CARS = "Mo-Fr 08:00-18:00; Sa 09:00-14:00"
OPEN_ALWAYS = "24/7"

# (name pattern, industry, legal forms, opening hours). A pattern names a trade
# and a surname ({s}, {s2}), a pharmacy emblem ({a}), a place ({p}) or the
# regional word for butcher and joiner ({butcher}, {joiner}).
TRADES = (
    ("Bäckerei {s}", "Bäckerei", ("", "", "e.K.", "GmbH", "KG"), OPEN_BAKERY),
    ("Café & Konditorei {s}", "Bäckerei", ("", "e.K."), OPEN_CAFE),
    ("{butcher} {s}", "Fleischerei", ("", "", "e.K.", "GmbH"), OPEN_FOOD),
    ("Elektro {s}", "Elektrotechnik", ("GmbH", "GmbH & Co. KG", "e.K.", "KG"), OPEN_CRAFT),
    ("{s} Haustechnik", "Sanitär, Heizung, Klima", ("GmbH", "GmbH & Co. KG"), OPEN_CRAFT),
    ("Sanitär {s}", "Sanitär, Heizung, Klima", ("GmbH", "e.K."), OPEN_CRAFT),
    ("Autohaus {s}", "Autohandel", ("", "GmbH", "GmbH & Co. KG"), OPEN_CARS),
    ("Kfz-Werkstatt {s}", "Kfz-Service", ("", "e.K."), OPEN_CRAFT),
    ("{s} Bedachungen", "Dachdeckerei", ("GmbH", "GmbH & Co. KG"), OPEN_CRAFT),
    ("Malerbetrieb {s}", "Malerhandwerk", ("", "GmbH"), OPEN_CRAFT),
    ("{joiner} {s}", "Holzhandwerk", ("", "GmbH", "e.K."), OPEN_CRAFT),
    ("{a}-Apotheke", "Apotheke", ("e.K.",), OPEN_PHARMACY),
    ("Apotheke {p}", "Apotheke", ("e.K.",), OPEN_PHARMACY),
    ("Café {s}", "Gastronomie", ("", "GmbH"), OPEN_CAFE),
    ("Gasthaus {s}", "Gastronomie", ("",), OPEN_GASTRO),
    ("Brauhaus {p}", "Gastronomie", ("GmbH",), OPEN_GASTRO),
    ("Hotel {s}", "Hotellerie", ("GmbH", "KG"), OPEN_ALWAYS),
    ("Getränke {s}", "Getränkehandel", ("GmbH", "e.K.", "KG"), OPEN_SHOP),
    ("Weinhandlung {s}", "Getränkehandel", ("", "e.K."), OPEN_SHOP),
    ("Blumen {s}", "Floristik", ("", "e.K."), OPEN_SHOP),
    ("Optik {s}", "Augenoptik", ("GmbH", "e.K."), OPEN_SHOP),
    ("Friseursalon {s}", "Friseurhandwerk", ("",), OPEN_SHOP),
    ("Zahnarztpraxis Dr. {s}", "Gesundheitswesen", ("",), OPEN_HEALTH),
    ("Physiotherapie {s}", "Gesundheitswesen", ("",), OPEN_HEALTH),
    ("Feinkost {s}", "Lebensmittelhandel", ("", "e.K.", "GmbH"), OPEN_FOOD),
    ("Frischemarkt {s}", "Lebensmittelhandel", ("e.K.", "OHG"), OPEN_FOOD),
    ("Druckerei {s}", "Druck und Medien", ("GmbH", "KG"), OPEN_OFFICE),
    ("Spedition {s}", "Logistik", ("GmbH", "GmbH & Co. KG"), OPEN_OFFICE),
    ("Steuerbüro {s} & {s2}", "Steuerberatung", ("", "PartG mbB"), OPEN_OFFICE),
    ("{s} Bürotechnik", "Bürobedarf", ("GmbH", "e.K."), OPEN_OFFICE),
    ("Baustoffe {s}", "Baustoffhandel", ("GmbH & Co. KG", "KG"), OPEN_CRAFT),
    ("{s} Gebäudereinigung", "Gebäudereinigung", ("GmbH",), OPEN_OFFICE),
    ("Zweirad {s}", "Fahrradhandel", ("", "e.K."), OPEN_SHOP),
)

# Lifecycle stages with their weights and the status changes that led there.
STATUSES = (
    ("customer", 64, ("lead", "prospect", "customer")),
    ("prospect", 12, ("lead", "prospect")),
    ("lead", 10, ("lead",)),
    ("at_risk", 9, ("lead", "prospect", "customer", "at_risk")),
    ("lost", 5, ("lead", "prospect", "customer", "at_risk", "lost")),
)
VISIT_INTERVAL_DAYS = {"A": 14, "B": 30, "C": 90}
SOLE_TRADER_FORMS = {"", "e.K.", "OHG"}
STAFF_ROLES = {
    "Bäckerei": ("Filialleitung", "Backstubenleitung", "Einkauf"),
    "Fleischerei": ("Filialleitung", "Einkauf", "Buchhaltung"),
    "Gastronomie": ("Küchenleitung", "Restaurantleitung", "Einkauf"),
    "Hotellerie": ("Küchenleitung", "Empfang", "Housekeeping", "Einkauf"),
    "Gesundheitswesen": ("Praxismanagement", "Empfang", "Buchhaltung"),
    "Apotheke": ("Filialleitung", "Einkauf", "Warenwirtschaft"),
    "Lebensmittelhandel": ("Marktleitung", "Einkauf", "Buchhaltung"),
}
OFFICE_ROLES = ("Einkauf", "Buchhaltung", "Büroleitung", "Betriebsleitung", "Lagerleitung",
                "Assistenz der Geschäftsführung")
MOBILE_PREFIXES = ("151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177",
                   "178", "179")

# (SKU, name, unit, net price in EUR, VAT %): a wholesaler of everything a
# business uses up, so every demo customer is a plausible buyer.
PRODUCTS = (
    ("KAF-1001", "Kaffee Crema, ganze Bohne", "kg", "14.90", "7"),
    ("KAF-1002", "Espresso Classico, ganze Bohne", "kg", "16.50", "7"),
    ("KAF-1003", "Filterkaffee gemahlen 500 g", "Stk", "5.90", "7"),
    ("KAF-1004", "Bio-Kaffee Fairtrade, ganze Bohne", "kg", "19.80", "7"),
    ("TEE-1101", "Schwarztee Assam, 100 Beutel", "Karton", "6.40", "7"),
    ("TEE-1102", "Pfefferminztee, 100 Beutel", "Karton", "4.90", "7"),
    ("MIL-1201", "H-Milch 3,5 %, 12 × 1 l", "Karton", "13.20", "7"),
    ("MIL-1202", "Kaffeesahne Portionen, 240 Stk", "Karton", "9.80", "7"),
    ("ZUC-1301", "Zuckersticks 4 g, 1000 Stk", "Karton", "11.50", "7"),
    ("KEK-1401", "Gebäckmischung einzeln verpackt, 150 Stk", "Karton", "18.90", "7"),
    ("WAS-1501", "Mineralwasser still, 12 × 0,75 l", "Karton", "7.20", "19"),
    ("WAS-1502", "Apfelschorle, 24 × 0,33 l", "Karton", "14.40", "19"),
    ("REI-2001", "Allzweckreiniger", "l", "2.95", "19"),
    ("REI-2002", "Glasreiniger", "l", "3.40", "19"),
    ("REI-2003", "Handspülmittel", "l", "2.10", "19"),
    ("REI-2004", "Flächendesinfektion", "l", "6.80", "19"),
    ("REI-2005", "Handseife, Nachfüllpack", "l", "3.90", "19"),
    ("REI-2006", "Geschirrspültabs, 200 Stk", "Karton", "24.90", "19"),
    ("REI-2007", "Mikrofasertuch 40 × 40 cm", "Stk", "1.20", "19"),
    ("REI-2008", "Müllbeutel 120 l, 250 Stk", "Karton", "29.50", "19"),
    ("REI-2009", "Bodenreiniger", "l", "3.10", "19"),
    ("PAP-3001", "Handtuchpapier Z-Falz, 5000 Blatt", "Karton", "34.90", "19"),
    ("PAP-3002", "Toilettenpapier 3-lagig, 72 Rollen", "Karton", "32.50", "19"),
    ("PAP-3003", "Servietten 33 × 33 cm, 1000 Stk", "Karton", "17.80", "19"),
    ("PAP-3004", "Kopierpapier A4 80 g, 2500 Blatt", "Karton", "22.90", "19"),
    ("PAP-3005", "Küchenrolle, 32 Rollen", "Karton", "21.40", "19"),
    ("PAP-3006", "Einweghandschuhe Nitril M, 100 Stk", "Karton", "7.90", "19"),
    ("PAP-3007", "Einweghandschuhe Nitril L, 100 Stk", "Karton", "7.90", "19"),
    ("VER-4001", "Kaffeebecher to go 0,3 l, 1000 Stk", "Karton", "58.00", "19"),
    ("VER-4002", "Deckel für Kaffeebecher, 1000 Stk", "Karton", "29.00", "19"),
    ("VER-4003", "Bäckertüten Papier, 1000 Stk", "Karton", "19.50", "19"),
    ("VER-4004", "Papiertragetaschen, 250 Stk", "Karton", "27.80", "19"),
    ("VER-4005", "Alufolie 30 cm × 150 m", "Stk", "12.90", "19"),
    ("VER-4006", "Frischhaltefolie 30 cm × 300 m", "Stk", "9.70", "19"),
    ("VER-4007", "Menüboxen Zuckerrohr, 500 Stk", "Karton", "44.00", "19"),
    ("LEB-5001", "Weizenmehl Type 550", "kg", "0.89", "7"),
    ("LEB-5002", "Roggenmehl Type 1150", "kg", "1.05", "7"),
    ("LEB-5003", "Zucker, Raffinade", "kg", "1.19", "7"),
    ("LEB-5004", "Speisesalz jodiert", "kg", "0.59", "7"),
    ("LEB-5005", "Sonnenblumenöl", "l", "2.49", "7"),
    ("LEB-5006", "Süßrahmbutter 82 % Fett", "kg", "7.90", "7"),
    ("LEB-5007", "Eier Freilandhaltung Gr. M, 180 Stk", "Karton", "39.60", "7"),
    ("LEB-5008", "Trockenhefe 500 g", "Stk", "4.80", "7"),
    ("ARB-6001", "Kochjacke weiß, Gr. 50", "Stk", "24.90", "19"),
    ("ARB-6002", "Latzschürze schwarz", "Stk", "12.50", "19"),
    ("ARB-6003", "Arbeitshandschuhe Gr. 9", "Stk", "3.90", "19"),
    ("ARB-6004", "Erste-Hilfe-Koffer DIN 13157", "Stk", "39.00", "19"),
    ("ARB-6005", "Feuerlöscher 6 kg ABC", "Stk", "54.00", "19"),
    ("ARB-6006", "Warnweste EN ISO 20471", "Stk", "2.90", "19"),
    ("BUE-7001", "Kugelschreiber blau, 50 Stk", "Karton", "14.50", "19"),
    ("BUE-7002", "Ordner A4, 8 cm", "Stk", "2.35", "19"),
    ("BUE-7003", "Kassenrollen 57 mm, 50 Stk", "Karton", "16.90", "19"),
    ("BUE-7004", "Etiketten 70 × 36 mm, 2400 Stk", "Karton", "18.40", "19"),
    ("BUE-7005", "Thermo-Bonrollen 80 mm, 50 Stk", "Karton", "27.90", "19"),
)
DISCONTINUED = {"KAF-1003"}

ACTIVITY_DAYS = 90
LOCAL = ZoneInfo("Europe/Berlin")
OUTCOMES = {
    "customer": (("order_taken", 55), ("followup_agreed", 15), ("no_decision", 15),
                 ("not_met", 8), ("other", 7)),
    "at_risk": (("order_taken", 30), ("no_decision", 40), ("followup_agreed", 20), ("not_met", 10)),
    "prospect": (("order_taken", 10), ("followup_agreed", 40), ("no_decision", 35),
                 ("not_met", 15)),
}
ORDER_SIZE = {"A": 3, "B": 2, "C": 1, None: 1}
LINE_DISCOUNTS = {"A": ("3", "5"), "B": ("0", "2"), "C": ("0",), None: ("0",)}
RISK_REASONS = ("Bestellmenge seit drei Monaten rückläufig", "Wettbewerber-Angebot liegt vor",
                "Ansprechpartner hat gewechselt", "Beschwerde über Lieferzeiten offen")
VISIT_NOTES = (
    "Sortiment durchgesprochen, {product} läuft gut. Nächste Bestellung voraussichtlich größer.",
    "{contact} war da, Preisliste für das nächste Jahr übergeben.",
    "Lager angesehen: Nachschub bei {product} wird knapp, nächste Woche nachfragen.",
    "Neue Filiale in Planung, {contact} meldet sich mit einem Termin.",
    "Reklamation zur letzten Lieferung geklärt, Gutschrift zugesagt.",
    "Wettbewerber war letzte Woche da, Preise verglichen. Wir liegen gut.",
    "Kurz gesprochen, {contact} hatte wenig Zeit. Nächstes Mal vormittags kommen.",
    "Muster von {product} dagelassen, Rückmeldung kommt nächste Woche.",
)
PHONE_NOTES = (
    "{contact} rief an: Lieferung kam unvollständig, Nachlieferung veranlasst.",
    "Telefonat mit {contact}: Interesse an {product}, Angebot folgt per Mail.",
    "Rückruf wegen der letzten Rechnung, Skonto erklärt.",
    "Erstgespräch am Telefon, {contact} möchte Unterlagen per Post.",
)
FOLLOWUP_TITLES = (
    "Angebot für {product} nachfassen",
    "{contact} wegen Preisliste zurückrufen",
    "Muster {product} vorbeibringen",
    "Termin mit der Geschäftsführung vereinbaren",
    "Jahresgespräch vorbereiten",
)
QUANTITIES = {"kg": (5, 40), "l": (5, 60), "Karton": (1, 12), "Stk": (2, 30)}

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "ć": "c"})
_LEGAL_FORMS = {form for trade in TRADES for form in trade[2] if form}


def slug(text: str) -> str:
    """Lower-case ASCII words joined by hyphens, as in a German company's domain."""
    text = text.lower().translate(_TRANSLIT).replace("&", " ")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def random_uuid(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from ``rng``, so seeded data gets the same ids every time."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def company(rng: random.Random, territory: DemoTerritory) -> tuple[str, str, str, str]:
    """A company name with its legal form, its industry, the bare name and its opening hours."""
    pattern, industry, forms, hours = rng.choice(TRADES)
    surname, partner = rng.sample(SURNAMES, 2)
    bare = pattern.format(
        s=surname, s2=partner, a=rng.choice(APOTHECARY), p=rng.choice(PLACES),
        butcher="Fleischerei" if territory.northern else "Metzgerei",
        joiner="Tischlerei" if territory.northern else "Schreinerei",
    )
    form = rng.choice(forms)
    return (f"{bare} {form}" if form else bare), industry, bare, hours


def phone_number(rng: random.Random, area_code: str) -> str:
    """A landline number in international form, e.g. ``+49 40 38291734``."""
    digits = 10 - len(area_code)
    return f"+49 {area_code} {rng.randint(2, 9)}{rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"


def mobile_number(rng: random.Random) -> str:
    return f"+49 {rng.choice(MOBILE_PREFIXES)} {rng.randrange(10 ** 7, 10 ** 8)}"


def scatter(rng: random.Random, city: City) -> tuple[float, float]:
    """A point around the city centre, normally distributed, at most 2.5 spreads away."""
    while True:
        north_km, east_km = rng.gauss(0, city.spread_km), rng.gauss(0, city.spread_km)
        if math.hypot(north_km, east_km) <= 2.5 * city.spread_km:
            break
    lat = city.lat + north_km / 111.2
    lon = city.lon + east_km / (111.2 * math.cos(math.radians(city.lat)))
    return round(lat, 6), round(lon, 6)


def customer_values(rng: random.Random, territory: DemoTerritory, city: City,
                    now: datetime) -> dict:
    """The column values of one realistic customer in ``city`` (no id, owner or territory)."""
    name, industry, bare, hours = company(rng, territory)
    street, postal_code = rng.choice(city.streets)
    lat, lon = scatter(rng, city)
    status = rng.choices([s[0] for s in STATUSES], [s[1] for s in STATUSES])[0]
    if status in ("customer", "at_risk"):
        abc_class = rng.choices("ABC", (20, 35, 45))[0]
    elif status == "lost":
        abc_class = rng.choice(("B", "C", None))
    else:
        abc_class = rng.choice(("C", None, None))
    domain = slug(bare) + ".de"
    known = status != "lead" or rng.random() < 0.5
    consent = status in ("customer", "at_risk") and rng.random() < 0.45
    created_at = now - timedelta(days=rng.randint(30, 3 * 365), minutes=rng.randint(0, 600))
    return {
        "name": name,
        "street": f"{street} {rng.randint(1, 180)}{rng.choice(('', '', '', '', 'a', 'b'))}",
        "postal_code": postal_code,
        "city": city.name,
        "country": "DE",
        "lat": lat,
        "lon": lon,
        "phone": phone_number(rng, city.area_code),
        "email": f"{rng.choice(('info', 'info', 'kontakt', 'service', 'post'))}@{domain}" if known else "",
        "website": f"https://www.{domain}" if known and rng.random() < 0.8 else "",
        "status": status,
        "abc_class": abc_class,
        "industry": industry,
        "visit_interval_days": VISIT_INTERVAL_DAYS.get(abc_class),
        "opening_hours": hours,
        "marketing_consent": consent,
        "marketing_consent_at": created_at + timedelta(days=rng.randint(0, 60)) if consent else None,
        "geocode_status": "ok",
        "geocoded_at": created_at,
        "created_at": created_at,
    }


def contact_values(rng: random.Random, customer: dict, first: bool) -> dict:
    """A person at ``customer``; the first one runs the business."""
    female = rng.random() < 0.5
    given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
    family = rng.choice(SURNAMES)
    namesake = [word for word in customer["name"].split() if word in SURNAMES]
    if first and namesake and rng.random() < 0.7:
        family = namesake[0]
    if not first:
        role = rng.choice(STAFF_ROLES.get(customer["industry"], OFFICE_ROLES))
    elif next((f for f in _LEGAL_FORMS if customer["name"].endswith(" " + f)), "") \
            in SOLE_TRADER_FORMS:
        role = "Inhaberin" if female else "Inhaber"
    else:
        role = "Geschäftsführung"
    domain = customer["email"].partition("@")[2]
    email = f"{slug(given)}.{slug(family)}@{domain}" if domain and rng.random() < 0.8 else ""
    if rng.random() < 0.5:
        phone = f"{customer['phone']}-{rng.randint(10, 49)}"
    else:
        phone = mobile_number(rng)
    birthday = None
    if rng.random() < 0.3:
        birthday = date(rng.randint(1958, 1998), rng.randint(1, 12), rng.randint(1, 28))
    return {"name": f"{given} {family}", "role": role, "phone": phone, "email": email,
            "birthday": birthday}


def demo_state() -> str:
    """``"empty"``, ``"loaded"`` (exactly the demo users) or raises DemoRefused."""
    emails = set(db.session.scalars(sa.select(User.email)))
    others = emails - DEMO_EMAILS
    if others:
        shown = ", ".join(sorted(others)[:3]) + (" …" if len(others) > 3 else "")
        raise DemoRefused(
            f"refusing to load demo data: the database has {len(others)} non-demo "
            f"user(s) ({shown}); the demo only runs on an empty database"
        )
    if emails == DEMO_EMAILS:
        return "loaded"
    if emails:
        raise DemoRefused("refusing to load demo data: only some of the demo users exist; "
                          "start from an empty database")
    for model in (Customer, Territory, Product):
        if db.session.scalar(sa.select(sa.func.count()).select_from(model)):
            raise DemoRefused(f"refusing to load demo data: the database has {model.__tablename__} "
                              "rows but no users; start from an empty database")
    return "empty"


def load_demo(seed: int = DEMO_SEED) -> str:
    """Load the demo data set in one transaction and return a summary for the console.

    Loads into an empty database; does nothing on one that holds exactly the
    demo users; raises DemoRefused, writing nothing, on any other.
    """
    if demo_state() == "loaded":
        return "demo data already loaded"
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    session = db.session
    session.info["skip_history"] = True
    try:
        counts = _build(session, rng, now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop("skip_history", None)
    return (
        "Loaded demo data: {users} users, {territories} territories, {customers} customers, "
        "{contacts} contacts, {products} products, {visits} visits, {notes} notes, "
        "{orders} orders, {followups} follow-ups, {history} history entries.\n"
        "Demo logins (password {password}): {logins}"
    ).format(password=DEMO_PASSWORD, logins=", ".join(DEMO_LOGINS), **counts)


def _build(session, rng: random.Random, now: datetime) -> dict[str, int]:
    def user(email, name, role, **fields) -> User:
        created = User(id=random_uuid(rng), email=email, name=name, role=role,
                       password_hash=hash_password(DEMO_PASSWORD),
                       created_at=now - timedelta(days=3 * 365 + 30), **fields)
        session.add(created)
        return created

    staff = {role: user(email, name, role) for email, name, role in STAFF}
    manager = staff["manager"]
    products = [Product(id=random_uuid(rng), sku=sku, name=name, unit=unit,
                        net_price=Decimal(price), vat_rate=Decimal(vat),
                        active=sku not in DISCONTINUED)
                for sku, name, unit, price, vat in PRODUCTS]
    session.add_all(products)
    names: set[str] = set()
    counts = dict.fromkeys(("users", "territories", "customers", "contacts", "products",
                            "visits", "notes", "orders", "followups", "history"), 0)
    counts.update(users=2, products=len(products))
    history: list[History] = []
    activities: list = []
    for area in TERRITORIES:
        home = area.cities[0]
        rep = user(area.rep_email, area.rep_name, "rep",
                   home_lat=round(home.lat + rng.uniform(-0.05, 0.05), 5),
                   home_lon=round(home.lon + rng.uniform(-0.05, 0.05), 5))
        territory = Territory(id=random_uuid(rng), name=area.name, manager=manager, reps=[rep],
                              postal_codes=list(area.postal_codes))
        session.add(territory)
        counts["users"] += 1
        counts["territories"] += 1
        for city in area.cities:
            for _ in range(city.weight):
                values = _unique_customer(rng, area, city, now, names)
                customer = Customer(id=random_uuid(rng), owner=rep, territory=territory, **values)
                if customer.status == "at_risk":
                    customer.risk_reason = rng.choice(RISK_REASONS)
                session.add(customer)
                counts["customers"] += 1
                history += _customer_history(rng, customer, rep, manager, now)
                contacts = []
                for n in range(rng.choices((1, 2, 3), (45, 35, 20))[0]):
                    contact = Contact(id=random_uuid(rng), customer=customer,
                                      created_at=min(now, customer.created_at + timedelta(days=n * 40)),
                                      **contact_values(rng, values, first=n == 0))
                    contacts.append(contact)
                    history.append(History(
                        id=random_uuid(rng), customer_id=customer.id, at=contact.created_at,
                        user_id=rep.id, kind="created", entity="contact", entity_id=contact.id,
                        new=contact.name,
                    ))
                session.add_all(contacts)
                counts["contacts"] += len(contacts)
                activity = _Activity(rng, customer, rep, contacts, products, now)
                activity.run()
                activities += activity.rows
                history += activity.history
        _add_in_order(session, activities, history, counts)
        activities, history = [], []
    return counts


def _add_in_order(session, activities: list, history: list[History], counts: dict) -> None:
    """Flush a territory's rows so that rows pointing at others by a bare foreign key
    (notes and orders at visits, history at everything) go in after them; a flush per
    territory keeps each flush small."""
    kinds = {Visit: "visits", Note: "notes", Order: "orders", Followup: "followups"}
    for row in activities:
        counts[kinds[type(row)]] += 1
    counts["history"] += len(history)
    for batch in ([r for r in activities if isinstance(r, Visit)],
                  [r for r in activities if not isinstance(r, Visit)],
                  sorted(history, key=lambda entry: entry.at)):
        session.flush()
        session.add_all(batch)
    session.flush()


def _unique_customer(rng, area, city, now, taken: set[str]) -> dict:
    """Customer values whose name is not in ``taken`` yet (search results stay clear)."""
    while True:
        values = customer_values(rng, area, city, now)
        if values["name"] not in taken:
            taken.add(values["name"])
            return values


def _customer_history(rng, customer: Customer, rep: User, manager: User,
                      now: datetime) -> list[History]:
    """The customer's story so far: created as a lead, then each step of its lifecycle."""
    base = {"customer_id": customer.id, "entity": "customer", "entity_id": customer.id}
    stages = next(path for status, _, path in STATUSES if status == customer.status)
    at = customer.created_at
    entries = [History(id=random_uuid(rng), at=at, user_id=rep.id, kind="created",
                       new=customer.name, **base)]
    span = max((now - at).days - 1, len(stages))
    for old, new in zip(stages, stages[1:], strict=False):
        at = at + timedelta(days=rng.randint(1, max(1, span // len(stages))), hours=rng.randint(0, 8))
        who = manager if new == "lost" and rng.random() < 0.5 else rep
        entries.append(History(id=random_uuid(rng), at=at, user_id=who.id, kind="change",
                               field="status", old=old, new=new, **base))
    if customer.abc_class:
        at = at + timedelta(days=rng.randint(1, 30))
        entries.append(History(id=random_uuid(rng), at=min(at, now), user_id=manager.id,
                               kind="change", field="abc_class", old=None,
                               new=customer.abc_class, **base))
    return entries



class _Activity:
    """The last ``ACTIVITY_DAYS`` days of work at one customer: visits on its cadence,
    notes, orders priced from the catalogue, follow-ups, and their history entries.

    Customers are visited on their class's interval; about one in five is overdue and
    every customer at risk is. ``last_visited_at`` and ``revenue_12m`` are set from
    the generated visits and orders, as the visit and order operations keep them.
    """

    def __init__(self, rng, customer: Customer, rep: User, contacts: list[Contact],
                 products: list[Product], now: datetime):
        self.rng, self.customer, self.rep, self.now = rng, customer, rep, now
        self.contacts = [c.name for c in contacts]
        self.products = [p for p in products if p.active]
        self.rows: list = []
        self.history: list[History] = []

    def run(self) -> None:
        customer, rng = self.customer, self.rng
        interval = customer.visit_interval_days or (45 if customer.status == "prospect" else None)
        if customer.status == "lead" or interval is None:
            if rng.random() < 0.3:
                self._note(self._working_time(rng.uniform(1, ACTIVITY_DAYS)), "phone", None)
            return
        if customer.status == "lost":
            return
        lag = rng.uniform(1.3, 2.5) if customer.status == "at_risk" else rng.uniform(0.05, 1.25)
        days_ago = interval * lag
        age = (self.now - customer.created_at).days
        visits = [days_ago] if days_ago < age else []
        days_ago += interval * rng.uniform(0.8, 1.2)
        while days_ago < min(ACTIVITY_DAYS, age):
            visits.append(days_ago)
            days_ago += interval * rng.uniform(0.8, 1.2)
        revenue = Decimal("0")
        for days in reversed(visits):
            visit = self._visit(self._working_time(days))
            if visit.outcome == "order_taken":
                revenue += self._order(visit).net_total
            elif visit.outcome == "followup_agreed":
                self._followup(visit.checked_out_at + timedelta(days=rng.randint(2, 10)))
            if rng.random() < 0.6:
                self._note(visit.checked_out_at, "visit", visit)
            if rng.random() < 0.15:
                self._note(self._working_time(max(0.5, days - rng.uniform(1, interval))),
                           "phone", None)
        met = [v.checked_in_at for v in self.rows if isinstance(v, Visit) and v.outcome != "not_met"]
        customer.last_visited_at = max(met, default=None)
        customer.revenue_12m = revenue
        if rng.random() < 0.15:
            self._followup(self.now + timedelta(days=rng.randint(1, 14)))

    def _product_name(self) -> str:
        """A product as people say it: the name without its pack size."""
        return self.rng.choice(self.products).name.split(",")[0]

    def _working_time(self, days_ago: float) -> datetime:
        """A moment during business hours (Mo-Fr, Berlin time) about ``days_ago`` days back."""
        day = (self.now - timedelta(days=days_ago)).astimezone(LOCAL).date()
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        moment = datetime.combine(day, time(self.rng.randint(8, 16), self.rng.choice((0, 15, 30, 45))),
                                  tzinfo=LOCAL).astimezone(UTC)
        return moment if moment < self.now else moment - timedelta(days=1)

    def _base(self, kind: str, at: datetime, ref_id: uuid.UUID, field: str | None,
              new: str | None) -> None:
        self.history.append(History(
            id=random_uuid(self.rng), customer_id=self.customer.id, at=at, user_id=self.rep.id,
            kind=kind, entity=kind, entity_id=ref_id, ref_id=ref_id, field=field, new=new,
        ))

    def _visit(self, checked_in: datetime) -> Visit:
        rng, customer = self.rng, self.customer
        outcome = rng.choices(*zip(*OUTCOMES[customer.status], strict=True))[0]
        metres, bearing = rng.uniform(5, 60), rng.uniform(0, 2 * math.pi)
        lat = customer.lat + metres * math.cos(bearing) / 111_200
        lon = customer.lon + metres * math.sin(bearing) / (111_200 * math.cos(math.radians(customer.lat)))
        visit = Visit(
            id=random_uuid(rng), customer_id=customer.id, user_id=self.rep.id,
            planned_at=checked_in.replace(minute=0) if rng.random() < 0.6 else None,
            checked_in_at=checked_in,
            checked_out_at=checked_in + timedelta(minutes=rng.randint(10, 55)),
            lat=round(lat, 6), lon=round(lon, 6), distance_m=round(metres, 1), outcome=outcome,
            created_at=checked_in,
        )
        self.rows.append(visit)
        self._base("visit", checked_in, visit.id, "checked_in", str(round(metres)))
        self._base("visit", visit.checked_out_at, visit.id, "checked_out", outcome)
        return visit

    def _order(self, visit: Visit) -> Order:
        """A submitted order taken on ``visit``, priced by the same rules as every order."""
        rng, abc = self.rng, self.customer.abc_class
        products = rng.sample(self.products, rng.randint(1, 5))
        inputs = []
        for product in products:
            low, high = QUANTITIES.get(product.unit, (1, 10))
            inputs.append(LineInput(quantity=Decimal(rng.randint(low, high) * ORDER_SIZE[abc]),
                                    unit_price=product.net_price, vat_rate=product.vat_rate,
                                    discount_pct=Decimal(rng.choice(LINE_DISCOUNTS[abc]))))
        price = price_order(inputs)
        submitted = visit.checked_out_at - timedelta(minutes=rng.randint(1, 5))
        confirmed = self.now - submitted > timedelta(days=2)
        order = Order(id=random_uuid(rng), customer_id=self.customer.id, user_id=self.rep.id,
                      visit_id=visit.id, status="confirmed" if confirmed else "submitted",
                      submitted_at=submitted, net_total=price.net, vat_total=price.vat,
                      gross_total=price.gross,
                      created_at=visit.checked_in_at + (submitted - visit.checked_in_at) / 2)
        for position, (product, line) in enumerate(zip(products, price.lines, strict=True), 1):
            order.lines.append(OrderLine(position=position, product_id=product.id,
                                         quantity=line.quantity, unit_price=line.unit_price,
                                         discount_pct=line.discount_pct, vat_rate=line.vat_rate,
                                         net=line.net, vat=line.vat))
        self.rows.append(order)
        summary = f"{order.gross_total:.2f}"
        self._base("order", order.created_at, order.id, "created", summary)
        self._base("order", submitted, order.id, "submitted", summary)
        if confirmed:
            self._base("order", self._working_time((self.now - submitted).days - 1), order.id,
                       "confirmed", summary)
        return order

    def _note(self, at: datetime, channel: str, visit: Visit | None) -> None:
        texts = VISIT_NOTES if channel == "visit" else PHONE_NOTES
        body = self.rng.choice(texts).format(contact=self.rng.choice(self.contacts or ["die Chefin"]),
                                             product=self._product_name())
        note = Note(id=random_uuid(self.rng), customer_id=self.customer.id,
                    visit_id=visit.id if visit else None, user_id=self.rep.id, channel=channel,
                    body=body, created_at=at)
        self.rows.append(note)
        self._base("note", at, note.id, "created", body.splitlines()[0][:200])

    def _followup(self, due: datetime) -> None:
        rng = self.rng
        due_day = due.astimezone(LOCAL).date()
        due_at = datetime.combine(due_day, time(9, 0), tzinfo=LOCAL).astimezone(UTC)
        title = rng.choice(FOLLOWUP_TITLES).format(contact=rng.choice(self.contacts or ["Inhaber"]),
                                                   product=self._product_name())
        created = min(self.now, due_at - timedelta(days=rng.randint(2, 10)))
        done_at = None
        if due_at < self.now - timedelta(days=2) and rng.random() < 0.9:
            days_ago = (self.now - due_at) / timedelta(days=1) + rng.uniform(-1.5, 1.5)
            done_at = max(created + timedelta(hours=1), self._working_time(max(0.5, days_ago)))
        followup = Followup(id=random_uuid(rng), customer_id=self.customer.id, title=title,
                            due_at=due_at, assignee_id=self.rep.id, created_by_id=self.rep.id,
                            done_at=done_at, created_at=created)
        self.rows.append(followup)
        self._base("followup", created, followup.id, "created", title)
        if done_at:
            self._base("followup", done_at, followup.id, "done", title)
