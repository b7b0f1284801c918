"""Generate the demo catalog and stock seed files, deterministically.

Writes ``src/okada/services/catalog/seed/catalog.json`` (stores, categories, products,
per-store offers) and ``src/okada/services/inventory/seed/stock.json`` (one row per offer:
``{store_id, product_id, on_hand, low_stock_threshold}``). Ids are uuid5 of a fixed namespace
and ``store:<slug>``, ``category:<slug>`` or ``product:<sku>``, so both files agree and
regenerating them changes nothing unless this script changes.

Run: ``.venv/bin/python scripts/make_seed.py`` (``--check`` only verifies the committed files
are up to date).

Coordinates marked [I] in docs/shared cameroon.md are estimates (±1 km); prices are plausible
2025 Douala/Yaoundé shelf prices in whole XAF, rounded to 25 francs.
"""

# ruff: noqa: RUF001 - product units keep the multiplication sign of shop labels (pack 6 x 1,5 L)

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import unicodedata
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CATALOG_FILE = ROOT / "src/okada/services/catalog/seed/catalog.json"
STOCK_FILE = ROOT / "src/okada/services/inventory/seed/stock.json"
NAMESPACE = uuid.UUID("8a3c2f0e-5b7d-4c1e-9f2a-6d4b0e8c1a37")
IMAGE_BASE = "https://cdn.okada.cm/img/p"
IMAGE_WIDTHS = (160, 480, 960)


def ident(kind: str, key: str) -> str:
    """Deterministic id shared by the catalog and inventory seed files."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


def every_day(opens: str, closes: str, days: range = range(7)) -> list[dict[str, Any]]:
    return [{"weekday": d, "opens": opens, "closes": closes} for d in days]


# -- stores ---------------------------------------------------------------------------------

STORES: list[dict[str, Any]] = [
    {
        "slug": "akwa",
        "name": "Okada Akwa",
        "kind": "dark_store",
        "city": "Douala",
        "quartier": "Akwa",
        "landmark": "Rue Joss, derrière la pharmacie du Centre",
        "lat": 4.0485,
        "lng": 9.6990,
        "delivery_radius_m": 4000,
        # Late on Friday and Saturday nights: Akwa goes out, the store stays open past midnight.
        "opening_hours": every_day("07:00", "22:00", range(0, 4))
        + every_day("07:00", "01:00", range(4, 6))
        + every_day("08:00", "22:00", range(6, 7)),
        "prep_minutes": 12,
    },
    {
        "slug": "bonamoussadi",
        "name": "Okada Bonamoussadi",
        "kind": "dark_store",
        "city": "Douala",
        "quartier": "Bonamoussadi",
        "landmark": "Carrefour Bonamoussadi, à côté de la station Tradex",
        "lat": 4.0940,
        "lng": 9.7430,
        "delivery_radius_m": 4500,
        "opening_hours": every_day("07:00", "22:00"),
        "prep_minutes": 15,
    },
    {
        "slug": "makepe",
        "name": "Okada Makepe",
        "kind": "dark_store",
        "city": "Douala",
        "quartier": "Makepe",
        "landmark": "Makepe Missoke, face au marché",
        "lat": 4.0700,
        "lng": 9.7510,
        "delivery_radius_m": 4000,
        "opening_hours": every_day("07:00", "22:00"),
        "prep_minutes": 15,
    },
    {
        "slug": "chez-tata-ngo-bonapriso",
        "name": "Épicerie Chez Tata Ngo",
        "kind": "partner",
        "city": "Douala",
        "quartier": "Bonapriso",
        "landmark": "Rue Tokoto, en face de l'école publique",
        "lat": 4.0300,
        "lng": 9.6950,
        "delivery_radius_m": None,
        # Bonapriso, Bonanjo and the south of Akwa; the Wouri bank bounds it to the west.
        "delivery_polygon": [
            [4.0450, 9.6850],
            [4.0470, 9.7010],
            [4.0330, 9.7090],
            [4.0180, 9.7000],
            [4.0200, 9.6820],
            [4.0330, 9.6760],
        ],
        "opening_hours": every_day("08:00", "20:00", range(0, 6))
        + every_day("09:00", "14:00", range(6, 7)),
        "prep_minutes": 20,
    },
    {
        "slug": "bastos",
        "name": "Okada Bastos",
        "kind": "dark_store",
        "city": "Yaoundé",
        "quartier": "Bastos",
        "landmark": "Rue 1.750, près de l'ambassade, portail vert",
        "lat": 3.8890,
        "lng": 11.5120,
        "delivery_radius_m": 4500,
        "opening_hours": every_day("07:00", "22:00"),
        "prep_minutes": 12,
    },
    {
        "slug": "essos",
        "name": "Okada Essos",
        "kind": "dark_store",
        "city": "Yaoundé",
        "quartier": "Essos",
        "landmark": "Carrefour Essos, après la boulangerie",
        "lat": 3.8700,
        "lng": 11.5370,
        "delivery_radius_m": 4000,
        "opening_hours": every_day("07:00", "22:00"),
        "prep_minutes": 15,
    },
    {
        "slug": "le-bon-prix-mvog-mbi",
        "name": "Alimentation Le Bon Prix",
        "kind": "partner",
        "city": "Yaoundé",
        "quartier": "Mvog-Mbi",
        "landmark": "Marché Mvog-Mbi, entrée principale",
        "lat": 3.8520,
        "lng": 11.5230,
        "delivery_radius_m": 2500,
        "opening_hours": every_day("07:30", "21:00", range(0, 6)),
        "prep_minutes": 20,
    },
]
PARTNER_SHARE = 0.38
"""Partner shops carry roughly this share of the catalog; dark stores nearly all of it."""

# -- categories -----------------------------------------------------------------------------

# (slug, parent slug, French, English)
CATEGORIES: list[tuple[str, str | None, str, str]] = [
    ("fruits-legumes", None, "Fruits et légumes", "Fruits & vegetables"),
    ("legumes", "fruits-legumes", "Légumes", "Vegetables"),
    ("legumes-feuilles", "fruits-legumes", "Légumes-feuilles", "Leafy greens"),
    ("tubercules-plantains", "fruits-legumes", "Tubercules et plantains", "Tubers & plantains"),
    ("fruits", "fruits-legumes", "Fruits", "Fruit"),
    ("poissons", None, "Poissons et fruits de mer", "Fish & seafood"),
    ("poisson-fume-seche", "poissons", "Poisson fumé et séché", "Smoked & dried fish"),
    ("poisson-frais", "poissons", "Poisson frais et congelé", "Fresh & frozen fish"),
    ("viandes-surgeles", None, "Viandes et surgelés", "Meat & frozen"),
    ("viandes", "viandes-surgeles", "Viandes et volailles", "Meat & poultry"),
    ("surgeles", "viandes-surgeles", "Surgelés", "Frozen food"),
    ("epicerie", None, "Épicerie", "Pantry"),
    ("riz-cereales", "epicerie", "Riz, céréales et pâtes", "Rice, grains & pasta"),
    ("huiles", "epicerie", "Huiles", "Cooking oils"),
    ("farine-sucre", "epicerie", "Farine, sucre et sel", "Flour, sugar & salt"),
    ("conserves", "epicerie", "Conserves", "Canned food"),
    ("epices-condiments", None, "Épices et condiments", "Spices & seasonings"),
    ("boissons", None, "Boissons", "Drinks"),
    ("eaux", "boissons", "Eaux", "Water"),
    ("sodas-jus", "boissons", "Sodas et jus", "Soft drinks & juices"),
    ("bieres", "boissons", "Bières", "Beer"),
    ("vins-spiritueux", "boissons", "Vins et spiritueux", "Wine & spirits"),
    ("produits-laitiers", None, "Produits laitiers et œufs", "Dairy & eggs"),
    ("boulangerie", None, "Boulangerie et petit-déjeuner", "Bakery & breakfast"),
    ("snacks", None, "Snacks et confiseries", "Snacks & sweets"),
    ("bebe", None, "Bébé", "Baby care"),
    ("hygiene", None, "Hygiène et beauté", "Hygiene & beauty"),
    ("entretien", None, "Entretien de la maison", "Household"),
]

# -- products -------------------------------------------------------------------------------
# Each row: (category, French name, English name, French unit, English unit, brand, price XAF,
# tags, flags). Flags: "w" sold by weight, "f" featured on the home screen.
P = tuple[str, str, str, str, str, str | None, int, str, str]

# fmt: off
PRODUCTS: list[P] = [
    # Vegetables
    ("legumes", "Tomates", "Tomatoes", "tas de 5", "heap of 5", None, 300, "tomate", "f"),
    ("legumes", "Tomates", "Tomatoes", "1 kg", "1 kg", None, 800, "tomate", "w"),
    ("legumes", "Oignons rouges", "Red onions", "1 kg", "1 kg", None, 700, "oignon", "w"),
    ("legumes", "Oignons rouges", "Red onions", "tas de 4", "heap of 4", None, 250, "oignon", ""),
    ("legumes", "Oignons blancs", "White onions", "1 kg", "1 kg", None, 800, "oignon", "w"),
    ("legumes", "Piment frais", "Fresh chilli peppers", "tas", "heap", None, 100, "piment", "f"),
    ("legumes", "Piment jaune (Penja)", "Yellow scotch bonnet", "tas", "heap", None, 150, "piment",
     ""),
    ("legumes", "Poivron vert", "Green bell pepper", "pièce", "each", None, 150, "", ""),
    ("legumes", "Carottes", "Carrots", "1 kg", "1 kg", None, 600, "", "w"),
    ("legumes", "Concombre", "Cucumber", "pièce", "each", None, 200, "salade", ""),
    ("legumes", "Aubergines locales (garden eggs)", "Garden eggs", "tas", "heap", None, 250, "",
     ""),
    ("legumes", "Gombo", "Okra", "tas", "heap", None, 250, "okra", ""),
    ("legumes", "Ail", "Garlic", "100 g", "100 g", None, 300, "", ""),
    ("legumes", "Gingembre frais", "Fresh ginger", "250 g", "250 g", None, 300, "", ""),
    ("legumes", "Céleri", "Celery", "botte", "bunch", None, 200, "", ""),
    ("legumes", "Poireaux", "Leeks", "botte", "bunch", None, 300, "", ""),
    ("legumes", "Persil", "Parsley", "botte", "bunch", None, 150, "", ""),
    ("legumes", "Oignons verts (ciboule)", "Spring onions", "botte", "bunch", None, 150, "", ""),
    ("legumes", "Haricots verts", "Green beans", "500 g", "500 g", None, 600, "", ""),
    ("legumes", "Chou pommé", "Cabbage", "pièce", "each", None, 500, "", ""),
    ("legumes", "Laitue", "Lettuce", "pièce", "each", None, 300, "salade", ""),
    ("legumes", "Pommes de terre", "Potatoes", "1 kg", "1 kg", None, 600, "", "w"),
    ("legumes", "Courgettes", "Courgettes", "1 kg", "1 kg", None, 1000, "", "w"),
    ("legumes", "Betteraves", "Beetroot", "1 kg", "1 kg", None, 900, "", "w"),
    ("legumes", "Champignons de Paris", "Button mushrooms", "250 g", "250 g", None, 1500, "", ""),
    # Leafy greens
    ("legumes-feuilles", "Feuilles de ndolé lavées", "Washed bitterleaf (ndolé)", "sachet 500 g",
     "500 g bag", None, 500, "ndolé|bitterleaf", "f"),
    ("legumes-feuilles", "Ndolé frais non lavé", "Fresh bitterleaf (unwashed)", "botte", "bunch",
     None, 300, "ndolé|bitterleaf", ""),
    ("legumes-feuilles", "Feuilles de manioc pilées (kwem)", "Pounded cassava leaves (kwem)",
     "sachet 500 g", "500 g bag", None, 600, "kwem|pondu", ""),
    ("legumes-feuilles", "Okok émincé", "Sliced okok (eru)", "sachet 250 g", "250 g bag", None, 500,
     "eru|okok", "f"),
    ("legumes-feuilles", "Waterleaf", "Waterleaf", "botte", "bunch", None, 200, "eru", ""),
    ("legumes-feuilles", "Feuilles de zom", "Zom leaves", "botte", "bunch", None, 250, "", ""),
    ("legumes-feuilles", "Folong (amarante)", "Folong (amaranth)", "botte", "bunch", None, 200, "",
     ""),
    ("legumes-feuilles", "Njama njama (morelle)", "Huckleberry leaves (njama njama)", "botte",
     "bunch", None, 250, "", ""),
    ("legumes-feuilles", "Épinards", "Spinach", "botte", "bunch", None, 300, "", ""),
    ("legumes-feuilles", "Feuilles de patate douce", "Sweet potato leaves", "botte", "bunch", None,
     150, "", ""),
    ("legumes-feuilles", "Kelen kelen (corète)", "Jute leaves (kelen kelen)", "botte", "bunch",
     None, 200, "", ""),
    ("legumes-feuilles", "Feuilles de macabo", "Cocoyam leaves", "botte", "bunch", None, 200,
     "ekwang", ""),
    ("legumes-feuilles", "Basilic africain (massep)", "African basil (massep)", "botte", "bunch",
     None, 150, "", ""),
    # Tubers and plantains
    ("tubercules-plantains", "Plantain mûr", "Ripe plantain", "tas de 4", "heap of 4", None, 600,
     "banane plantain|dodo", "f"),
    ("tubercules-plantains", "Plantain mûr", "Ripe plantain", "régime", "bunch", None, 3500,
     "banane plantain", ""),
    ("tubercules-plantains", "Plantain vert", "Green plantain", "tas de 4", "heap of 4", None, 500,
     "banane plantain", ""),
    ("tubercules-plantains", "Plantain vert", "Green plantain", "régime", "bunch", None, 3000,
     "banane plantain", ""),
    ("tubercules-plantains", "Manioc frais", "Fresh cassava", "tas", "heap", None, 500, "", ""),
    ("tubercules-plantains", "Bâton de manioc", "Cassava stick (bobolo)", "pièce", "each", None,
     100, "bobolo|mintoumba", "f"),
    ("tubercules-plantains", "Bâton de manioc", "Cassava sticks (bobolo)", "paquet de 5",
     "pack of 5", None, 500, "bobolo", ""),
    ("tubercules-plantains", "Miondo", "Miondo (thin cassava sticks)", "paquet de 10", "pack of 10",
     None, 500, "bâton de manioc", ""),
    ("tubercules-plantains", "Macabo", "Cocoyam (macabo)", "1 kg", "1 kg", None, 600, "", "w"),
    ("tubercules-plantains", "Igname", "Yam", "1 kg", "1 kg", None, 700, "", "w"),
    ("tubercules-plantains", "Patate douce", "Sweet potato", "1 kg", "1 kg", None, 500, "", "w"),
    ("tubercules-plantains", "Taro", "Taro", "1 kg", "1 kg", None, 800, "achu", "w"),
    ("tubercules-plantains", "Water fufu", "Water fufu", "500 g", "500 g", None, 400, "couscous",
     ""),
    # Fruit
    ("fruits", "Bananes douces", "Sweet bananas", "main", "hand", None, 500, "banane", "f"),
    ("fruits", "Ananas", "Pineapple", "pièce", "each", None, 500, "", ""),
    ("fruits", "Papaye", "Papaya", "pièce", "each", None, 600, "", ""),
    ("fruits", "Mangues", "Mangoes", "tas de 4", "heap of 4", None, 500, "", ""),
    ("fruits", "Avocats", "Avocados", "tas de 3", "heap of 3", None, 300, "", "f"),
    ("fruits", "Oranges", "Oranges", "tas de 6", "heap of 6", None, 500, "", ""),
    ("fruits", "Pamplemousse", "Grapefruit", "pièce", "each", None, 200, "", ""),
    ("fruits", "Citrons verts", "Limes", "tas de 10", "heap of 10", None, 200, "citron", ""),
    ("fruits", "Pastèque", "Watermelon", "pièce", "each", None, 1500, "", ""),
    ("fruits", "Safou", "African pear (safou)", "tas", "heap", None, 500, "prune", ""),
    ("fruits", "Pommes importées", "Imported apples", "1 kg", "1 kg", None, 2000, "", "w"),
    ("fruits", "Corossol", "Soursop", "pièce", "each", None, 1000, "", ""),
    ("fruits", "Noix de coco", "Coconut", "pièce", "each", None, 300, "coco", ""),
    ("fruits", "Goyaves", "Guavas", "tas", "heap", None, 300, "", ""),
    ("fruits", "Mandarines", "Tangerines", "tas de 6", "heap of 6", None, 500, "", ""),
    ("fruits", "Raisin blanc", "White grapes", "500 g", "500 g", None, 2500, "", ""),
    ("fruits", "Fruits de la passion", "Passion fruit", "tas de 6", "heap of 6", None, 500, "", ""),
    # Smoked and dried fish
    ("poisson-fume-seche", "Bar fumé", "Smoked croaker (bar)", "pièce moyenne", "medium piece",
     None, 2500, "poisson fumé", "f"),
    ("poisson-fume-seche", "Bar fumé", "Smoked croaker (bar)", "grande pièce", "large piece", None,
     4000, "poisson fumé", ""),
    ("poisson-fume-seche", "Maquereau fumé", "Smoked mackerel", "pièce", "each", None, 1000,
     "poisson fumé|kpanla", "f"),
    ("poisson-fume-seche", "Machoiron fumé", "Smoked catfish (machoiron)", "pièce", "each", None,
     3000, "poisson fumé|silure", ""),
    ("poisson-fume-seche", "Crevettes séchées", "Dried crayfish", "sachet 100 g", "100 g bag", None,
     1000, "njanga|crayfish", "f"),
    ("poisson-fume-seche", "Crevettes séchées", "Dried crayfish", "sachet 250 g", "250 g bag", None,
     2300, "njanga|crayfish", ""),
    ("poisson-fume-seche", "Crevettes moulues (njanga)", "Ground crayfish (njanga)", "sachet 100 g",
     "100 g bag", None, 1200, "crayfish", ""),
    ("poisson-fume-seche", "Stockfish", "Stockfish", "morceau 250 g", "250 g piece", None, 3000,
     "morue", ""),
    ("poisson-fume-seche", "Poisson salé", "Salted fish", "250 g", "250 g", None, 2000, "", ""),
    ("poisson-fume-seche", "Sardinelles fumées (bifaka)", "Smoked sardinella (bifaka)", "tas",
     "heap", None, 500, "", ""),
    ("poisson-fume-seche", "Silure fumé", "Smoked African catfish", "pièce", "each", None, 3500, "",
     ""),
    # Fresh and frozen fish
    ("poisson-frais", "Maquereau congelé", "Frozen mackerel", "1 kg", "1 kg", None, 1800, "poisson",
     "w"),
    ("poisson-frais", "Bar frais", "Fresh croaker (bar)", "1 kg", "1 kg", None, 3500, "poisson",
     "w"),
    ("poisson-frais", "Tilapia frais", "Fresh tilapia", "1 kg", "1 kg", None, 2500, "poisson", "w"),
    ("poisson-frais", "Capitaine", "Nile perch (capitaine)", "1 kg", "1 kg", None, 4500, "poisson",
     "w"),
    ("poisson-frais", "Sole", "Sole", "1 kg", "1 kg", None, 4000, "poisson", "w"),
    ("poisson-frais", "Crevettes fraîches", "Fresh prawns", "500 g", "500 g", None, 3500, "", ""),
    ("poisson-frais", "Sardines congelées", "Frozen sardines", "1 kg", "1 kg", None, 1500,
     "poisson", "w"),
    ("poisson-frais", "Carpe", "Carp", "1 kg", "1 kg", None, 2800, "poisson", "w"),
    ("poisson-frais", "Calamars congelés", "Frozen squid", "500 g", "500 g", None, 2500, "", ""),
    # Meat and poultry
    ("viandes", "Bœuf avec os", "Beef on the bone", "1 kg", "1 kg", None, 3000, "viande", "wf"),
    ("viandes", "Bœuf sans os", "Boneless beef", "1 kg", "1 kg", None, 3800, "viande", "w"),
    ("viandes", "Viande de chèvre", "Goat meat", "1 kg", "1 kg", None, 4500, "viande|cabri", "w"),
    ("viandes", "Poulet de chair entier", "Whole broiler chicken", "pièce ~1,5 kg", "each ~1.5 kg",
     None, 4000, "poulet", "f"),
    ("viandes", "Poulet du village", "Free-range village chicken", "pièce", "each", None, 6000,
     "poulet|bicyclette", ""),
    ("viandes", "Cuisses de poulet congelées", "Frozen chicken legs", "1 kg", "1 kg", None, 2500,
     "poulet", "w"),
    ("viandes", "Ailes de poulet", "Chicken wings", "1 kg", "1 kg", None, 2300, "poulet", "w"),
    ("viandes", "Viande de porc", "Pork", "1 kg", "1 kg", None, 2800, "porc", "w"),
    ("viandes", "Côtes de porc", "Pork ribs", "1 kg", "1 kg", None, 3000, "porc", "w"),
    ("viandes", "Kanda (peau de bœuf)", "Cow skin (kanda)", "500 g", "500 g", None, 1200, "", ""),
    ("viandes", "Tripes de bœuf", "Beef tripe", "1 kg", "1 kg", None, 2000, "", "w"),
    ("viandes", "Viande hachée", "Minced beef", "500 g", "500 g", None, 2200, "", ""),
    ("viandes", "Foie de bœuf", "Beef liver", "1 kg", "1 kg", None, 3200, "", "w"),
    ("viandes", "Saucisses de porc", "Pork sausages", "500 g", "500 g", None, 2000, "", ""),
    ("viandes", "Queue de bœuf", "Oxtail", "1 kg", "1 kg", None, 3500, "", "w"),
    # Frozen
    ("surgeles", "Frites surgelées", "Frozen fries", "1 kg", "1 kg", "McCain", 2500, "", ""),
    ("surgeles", "Mélange de légumes surgelés", "Frozen mixed vegetables", "1 kg", "1 kg", None,
     2500, "", ""),
    ("surgeles", "Petits pois surgelés", "Frozen peas", "1 kg", "1 kg", None, 2300, "", ""),
    ("surgeles", "Cuisses de dinde", "Turkey drumsticks", "1 kg", "1 kg", None, 2800, "", "w"),
    ("surgeles", "Poisson pané", "Fish fingers", "400 g", "400 g", None, 2500, "", ""),
    ("surgeles", "Glace vanille", "Vanilla ice cream", "1 L", "1 L", None, 3500, "", ""),
    ("surgeles", "Glace chocolat", "Chocolate ice cream", "1 L", "1 L", None, 3500, "", ""),
    ("surgeles", "Pizza margherita surgelée", "Frozen margherita pizza", "pièce 350 g",
     "350 g each", None, 3000, "", ""),
    ("surgeles", "Crevettes décortiquées surgelées", "Frozen peeled prawns", "500 g", "500 g", None,
     4000, "", ""),
    ("surgeles", "Glaçons", "Ice cubes", "sachet 2 kg", "2 kg bag", None, 500, "", ""),
    # Rice, grains and pasta
    ("riz-cereales", "Riz Mémé cassé", "Mémé broken rice", "1 kg", "1 kg", "Mémé", 800, "riz", ""),
    ("riz-cereales", "Riz Mémé cassé", "Mémé broken rice", "sac de 5 kg", "5 kg bag", "Mémé", 4000,
     "riz", "f"),
    ("riz-cereales", "Riz Mémé cassé", "Mémé broken rice", "sac de 25 kg", "25 kg bag", "Mémé",
     17500, "riz", ""),
    ("riz-cereales", "Riz parfumé Royal Umbrella", "Royal Umbrella fragrant rice", "1 kg", "1 kg",
     "Royal Umbrella", 1200, "riz|thaï", ""),
    ("riz-cereales", "Riz parfumé Royal Umbrella", "Royal Umbrella fragrant rice", "sac de 5 kg",
     "5 kg bag", "Royal Umbrella", 5500, "riz|thaï", ""),
    ("riz-cereales", "Riz de Ndop", "Ndop local rice", "1 kg", "1 kg", None, 900, "riz|local", ""),
    ("riz-cereales", "Riz de Ndop", "Ndop local rice", "sac de 5 kg", "5 kg bag", None, 4300,
     "riz|local", ""),
    ("riz-cereales", "Riz long grain Uncle Ben's", "Uncle Ben's long grain rice", "1 kg", "1 kg",
     "Uncle Ben's", 1800, "riz", ""),
    ("riz-cereales", "Spaghetti Panzani", "Panzani spaghetti", "500 g", "500 g", "Panzani", 700,
     "pâtes", ""),
    ("riz-cereales", "Macaronis Panzani", "Panzani macaroni", "500 g", "500 g", "Panzani", 700,
     "pâtes", ""),
    ("riz-cereales", "Spaghetti Reggia", "Reggia spaghetti", "500 g", "500 g", "Reggia", 650,
     "pâtes", ""),
    ("riz-cereales", "Coquillettes", "Elbow pasta", "500 g", "500 g", "Panzani", 700, "pâtes", ""),
    ("riz-cereales", "Maïs sec", "Dried maize", "1 kg", "1 kg", None, 500, "", "w"),
    ("riz-cereales", "Haricots rouges", "Red beans", "1 kg", "1 kg", None, 1000, "koki", "w"),
    ("riz-cereales", "Haricots blancs", "White beans", "1 kg", "1 kg", None, 1200, "", "w"),
    ("riz-cereales", "Niébé (haricots cornille)", "Black-eyed beans", "1 kg", "1 kg", None, 1100,
     "koki|beignets haricots", "w"),
    ("riz-cereales", "Arachides décortiquées", "Shelled groundnuts", "1 kg", "1 kg", None, 1500,
     "pistache", "w"),
    ("riz-cereales", "Pistache (graines de courge)", "Egusi (melon seeds)", "500 g", "500 g", None,
     2000, "egusi|mbongo", ""),
    ("riz-cereales", "Soja en grains", "Soya beans", "1 kg", "1 kg", None, 900, "", "w"),
    ("riz-cereales", "Couscous de blé", "Wheat couscous", "500 g", "500 g", None, 900, "", ""),
    # Cooking oils
    ("huiles", "Huile de palme rouge", "Red palm oil", "bouteille 1 L", "1 L bottle", None, 1000,
     "huile rouge|mbanga", "f"),
    ("huiles", "Huile de palme rouge", "Red palm oil", "bidon 5 L", "5 L jerrycan", None, 4500,
     "huile rouge", ""),
    ("huiles", "Huile raffinée Diamaor", "Diamaor refined oil", "bouteille 1 L", "1 L bottle",
     "Diamaor", 1400, "huile", "f"),
    ("huiles", "Huile raffinée Diamaor", "Diamaor refined oil", "bidon 5 L", "5 L jerrycan",
     "Diamaor", 6500, "huile", ""),
    ("huiles", "Huile raffinée Mayor", "Mayor refined oil", "bouteille 1 L", "1 L bottle", "Mayor",
     1300, "huile", ""),
    ("huiles", "Huile raffinée Mayor", "Mayor refined oil", "bidon 5 L", "5 L jerrycan", "Mayor",
     6200, "huile", ""),
    ("huiles", "Huile d'arachide", "Groundnut oil", "bouteille 1 L", "1 L bottle", None, 2000,
     "huile", ""),
    ("huiles", "Huile d'olive vierge extra", "Extra virgin olive oil", "bouteille 1 L",
     "1 L bottle", None, 6000, "huile", ""),
    ("huiles", "Huile de palme raffinée", "Refined palm olein", "sachet 500 ml", "500 ml pouch",
     None, 700, "huile", ""),
    # Flour, sugar and salt
    ("farine-sucre", "Sucre en poudre SOSUCAM", "SOSUCAM granulated sugar", "1 kg", "1 kg",
     "SOSUCAM", 900, "sucre", "f"),
    ("farine-sucre", "Sucre en poudre SOSUCAM", "SOSUCAM granulated sugar", "sac de 5 kg",
     "5 kg bag", "SOSUCAM", 4300, "sucre", ""),
    ("farine-sucre", "Sucre en morceaux SOSUCAM", "SOSUCAM sugar cubes", "1 kg", "1 kg", "SOSUCAM",
     1100, "sucre", ""),
    ("farine-sucre", "Farine de blé", "Wheat flour", "1 kg", "1 kg", None, 750, "farine", ""),
    ("farine-sucre", "Farine de blé", "Wheat flour", "sac de 5 kg", "5 kg bag", None, 3500,
     "farine", ""),
    ("farine-sucre", "Farine de maïs (couscous)", "Maize flour (couscous)", "1 kg", "1 kg", None,
     600, "couscous", ""),
    ("farine-sucre", "Farine de manioc", "Cassava flour", "1 kg", "1 kg", None, 700, "couscous",
     ""),
    ("farine-sucre", "Gari jaune", "Yellow garri", "1 kg", "1 kg", None, 800, "tapioca", ""),
    ("farine-sucre", "Gari blanc", "White garri", "1 kg", "1 kg", None, 700, "tapioca", ""),
    ("farine-sucre", "Sel fin iodé", "Iodised table salt", "500 g", "500 g", None, 200, "sel", ""),
    ("farine-sucre", "Gros sel", "Coarse salt", "1 kg", "1 kg", None, 250, "sel", ""),
    ("farine-sucre", "Levure boulangère", "Baker's yeast", "100 g", "100 g", None, 500, "", ""),
    ("farine-sucre", "Tapioca", "Tapioca", "500 g", "500 g", None, 600, "", ""),
    ("farine-sucre", "Farine de bouillie maïs-arachide", "Maize and groundnut pap flour", "500 g",
     "500 g", None, 600, "bouillie", ""),
    # Canned food
    ("conserves", "Sardines à l'huile", "Sardines in oil", "boîte 125 g", "125 g tin", "Titus", 450,
     "sardine", "f"),
    ("conserves", "Sardines à la tomate", "Sardines in tomato sauce", "boîte 125 g", "125 g tin",
     "Titus", 450, "sardine", ""),
    ("conserves", "Concentré de tomate", "Tomato paste", "sachet 70 g", "70 g sachet", None, 100,
     "tomate", ""),
    ("conserves", "Concentré de tomate", "Tomato paste", "boîte 400 g", "400 g tin", None, 800,
     "tomate", ""),
    ("conserves", "Corned beef", "Corned beef", "boîte 340 g", "340 g tin", "Exeter", 2500, "", ""),
    ("conserves", "Maquereau à la tomate", "Mackerel in tomato sauce", "boîte 425 g", "425 g tin",
     None, 1500, "", ""),
    ("conserves", "Thon à l'huile", "Tuna in oil", "boîte 160 g", "160 g tin", None, 1000, "", ""),
    ("conserves", "Petits pois extra-fins", "Garden peas", "boîte 400 g", "400 g tin", None, 700,
     "", ""),
    ("conserves", "Haricots blancs à la tomate", "Baked beans", "boîte 400 g", "400 g tin", None,
     900, "", ""),
    ("conserves", "Maïs doux", "Sweet corn", "boîte 300 g", "300 g tin", None, 800, "", ""),
    ("conserves", "Champignons émincés", "Sliced mushrooms", "boîte 400 g", "400 g tin", None, 1000,
     "", ""),
    ("conserves", "Pâte d'arachide", "Groundnut paste", "pot 500 g", "500 g jar", None, 1200,
     "arachide", ""),
    # Spices and seasonings
    ("epices-condiments", "Cube Maggi", "Maggi stock cubes", "sachet de 20", "pack of 20", "Maggi",
     500, "bouillon|cube", "f"),
    ("epices-condiments", "Cube Maggi", "Maggi stock cubes", "boîte de 100", "box of 100", "Maggi",
     2300, "bouillon|cube", ""),
    ("epices-condiments", "Maggi crevette", "Maggi shrimp cubes", "sachet de 20", "pack of 20",
     "Maggi", 550, "bouillon|cube", ""),
    ("epices-condiments", "Cube Jumbo", "Jumbo stock cubes", "sachet de 20", "pack of 20", "Jumbo",
     500, "bouillon|cube", "f"),
    ("epices-condiments", "Cube Jumbo poulet", "Jumbo chicken cubes", "boîte de 100", "box of 100",
     "Jumbo", 2300, "bouillon|cube", ""),
    ("epices-condiments", "Arôme Maggi liquide", "Maggi liquid seasoning", "flacon 200 ml",
     "200 ml bottle", "Maggi", 1300, "", ""),
    ("epices-condiments", "Poivre blanc de Penja", "Penja white pepper", "50 g", "50 g", None, 1500,
     "poivre|IGP", ""),
    ("epices-condiments", "Poivre blanc de Penja", "Penja white pepper", "100 g", "100 g", None,
     2800, "poivre|IGP", ""),
    ("epices-condiments", "Poivre noir moulu", "Ground black pepper", "50 g", "50 g", None, 600,
     "poivre", ""),
    ("epices-condiments", "Piment en poudre", "Ground chilli", "100 g", "100 g", None, 500,
     "piment", ""),
    ("epices-condiments", "Njansang", "Njangsa seeds", "100 g", "100 g", None, 800, "", ""),
    ("epices-condiments", "Rondelles (oignon du pays)", "Country onion (rondelle)", "100 g",
     "100 g", None, 500, "", ""),
    ("epices-condiments", "Pèbè (noix de calebasse)", "Calabash nutmeg (pebe)", "50 g", "50 g",
     None, 400, "", ""),
    ("epices-condiments", "Épices pour mbongo tchobi", "Mbongo tchobi spice mix", "100 g", "100 g",
     None, 700, "mbongo", ""),
    ("epices-condiments", "Quatre côtés (Tetrapleura)", "Aidan fruit (four sides)", "3 pièces",
     "3 pieces", None, 300, "", ""),
    ("epices-condiments", "Ail en poudre", "Garlic powder", "100 g", "100 g", None, 700, "", ""),
    ("epices-condiments", "Gingembre en poudre", "Ground ginger", "100 g", "100 g", None, 600, "",
     ""),
    ("epices-condiments", "Curry", "Curry powder", "100 g", "100 g", None, 500, "", ""),
    ("epices-condiments", "Thym séché", "Dried thyme", "20 g", "20 g", None, 300, "", ""),
    ("epices-condiments", "Feuilles de laurier", "Bay leaves", "20 g", "20 g", None, 300, "", ""),
    ("epices-condiments", "Moutarde de Dijon", "Dijon mustard", "pot 370 g", "370 g jar", None,
     1500, "", ""),
    ("epices-condiments", "Mayonnaise", "Mayonnaise", "pot 430 ml", "430 ml jar", None, 1800, "",
     ""),
    ("epices-condiments", "Ketchup", "Ketchup", "flacon 500 g", "500 g bottle", None, 1500, "", ""),
    ("epices-condiments", "Vinaigre blanc", "White vinegar", "1 L", "1 L", None, 800, "", ""),
    ("epices-condiments", "Sauce soja", "Soy sauce", "flacon 150 ml", "150 ml bottle", None, 1000,
     "", ""),
    ("epices-condiments", "Clous de girofle", "Cloves", "50 g", "50 g", None, 500, "", ""),
    ("epices-condiments", "Muscade", "Nutmeg", "3 noix", "3 nuts", None, 300, "", ""),
    # Water
    ("eaux", "Eau minérale Supermont", "Supermont mineral water", "bouteille 0,5 L", "0.5 L bottle",
     "Supermont", 250, "eau", ""),
    ("eaux", "Eau minérale Supermont", "Supermont mineral water", "bouteille 1,5 L", "1.5 L bottle",
     "Supermont", 400, "eau", "f"),
    ("eaux", "Eau minérale Supermont", "Supermont mineral water", "pack 6 × 1,5 L",
     "6 × 1.5 L pack", "Supermont", 2300, "eau", ""),
    ("eaux", "Eau minérale Supermont", "Supermont mineral water", "bonbonne 10 L", "10 L jug",
     "Supermont", 1800, "eau", ""),
    ("eaux", "Eau minérale Tangui", "Tangui mineral water", "bouteille 0,5 L", "0.5 L bottle",
     "Tangui", 300, "eau", ""),
    ("eaux", "Eau minérale Tangui", "Tangui mineral water", "bouteille 1,5 L", "1.5 L bottle",
     "Tangui", 500, "eau", "f"),
    ("eaux", "Eau minérale Tangui", "Tangui mineral water", "pack 6 × 1,5 L", "6 × 1.5 L pack",
     "Tangui", 2800, "eau", ""),
    ("eaux", "Eau gazeuse Vitale", "Vitale sparkling water", "bouteille 1 L", "1 L bottle",
     "Vitale", 600, "eau", ""),
    ("eaux", "Eau de source Semme", "Semme spring water", "bouteille 1,5 L", "1.5 L bottle",
     "Semme", 400, "eau", ""),
    # Soft drinks and juices
    ("sodas-jus", "Top Ananas", "Top Pineapple", "bouteille 35 cl", "35 cl bottle", "Top", 400,
     "soda|sucrerie", "f"),
    ("sodas-jus", "Top Ananas", "Top Pineapple", "bouteille 1 L", "1 L bottle", "Top", 800,
     "soda|sucrerie", ""),
    ("sodas-jus", "Top Orange", "Top Orange", "bouteille 35 cl", "35 cl bottle", "Top", 400,
     "soda|sucrerie", ""),
    ("sodas-jus", "Top Grenadine", "Top Grenadine", "bouteille 35 cl", "35 cl bottle", "Top", 400,
     "soda|sucrerie", ""),
    ("sodas-jus", "Top Pamplemousse", "Top Grapefruit", "bouteille 35 cl", "35 cl bottle", "Top",
     400, "soda|sucrerie", ""),
    ("sodas-jus", "Top Citron", "Top Lemon", "bouteille 35 cl", "35 cl bottle", "Top", 400,
     "soda|sucrerie", ""),
    ("sodas-jus", "Djino Cocktail", "Djino Cocktail", "bouteille 35 cl", "35 cl bottle", "Djino",
     450, "soda|sucrerie", ""),
    ("sodas-jus", "Djino Goyave", "Djino Guava", "bouteille 35 cl", "35 cl bottle", "Djino", 450,
     "soda|sucrerie", ""),
    ("sodas-jus", "Coca-Cola", "Coca-Cola", "bouteille 35 cl", "35 cl bottle", "Coca-Cola", 400,
     "soda|coca", "f"),
    ("sodas-jus", "Coca-Cola", "Coca-Cola", "canette 33 cl", "33 cl can", "Coca-Cola", 500,
     "soda|coca", ""),
    ("sodas-jus", "Coca-Cola", "Coca-Cola", "bouteille 1,5 L", "1.5 L bottle", "Coca-Cola", 1000,
     "soda|coca", ""),
    ("sodas-jus", "Fanta Orange", "Fanta Orange", "bouteille 35 cl", "35 cl bottle", "Fanta", 400,
     "soda", ""),
    ("sodas-jus", "Sprite", "Sprite", "bouteille 35 cl", "35 cl bottle", "Sprite", 400, "soda", ""),
    ("sodas-jus", "Vimto", "Vimto", "canette 33 cl", "33 cl can", "Vimto", 450, "soda", ""),
    ("sodas-jus", "Malta Guinness", "Malta Guinness", "bouteille 33 cl", "33 cl bottle", "Guinness",
     500, "malt|sans alcool", ""),
    ("sodas-jus", "Orangina", "Orangina", "bouteille 33 cl", "33 cl bottle", "Orangina", 600,
     "soda", ""),
    ("sodas-jus", "Jus de foléré (bissap)", "Hibiscus juice (bissap)", "bouteille 1 L",
     "1 L bottle", None, 500, "jus|bissap", ""),
    ("sodas-jus", "Jus de gingembre", "Ginger juice", "bouteille 1 L", "1 L bottle", None, 500,
     "jus", ""),
    ("sodas-jus", "Jus d'orange pressé", "Fresh orange juice", "bouteille 1 L", "1 L bottle", None,
     1500, "jus", ""),
    ("sodas-jus", "Jus d'ananas 100 %", "100% pineapple juice", "brique 1 L", "1 L carton", None,
     1500, "jus", ""),
    # Beer
    ("bieres", "33 Export", "33 Export", "bouteille 65 cl", "65 cl bottle", "33 Export", 650,
     "bière|beer", "f"),
    ("bieres", "33 Export", "33 Export", "casier 12 × 65 cl", "crate 12 × 65 cl", "33 Export", 7500,
     "bière|beer", ""),
    ("bieres", "Castel Beer", "Castel Beer", "bouteille 65 cl", "65 cl bottle", "Castel", 650,
     "bière|beer", "f"),
    ("bieres", "Castel Beer", "Castel Beer", "casier 12 × 65 cl", "crate 12 × 65 cl", "Castel",
     7500, "bière|beer", ""),
    ("bieres", "Mützig", "Mützig", "bouteille 65 cl", "65 cl bottle", "Mützig", 650, "bière|beer",
     ""),
    ("bieres", "Beaufort Lager", "Beaufort Lager", "bouteille 65 cl", "65 cl bottle", "Beaufort",
     650, "bière|beer", ""),
    ("bieres", "Guinness Foreign Extra Stout", "Guinness Foreign Extra Stout", "bouteille 33 cl",
     "33 cl bottle", "Guinness", 600, "bière|stout", ""),
    ("bieres", "Guinness Foreign Extra Stout", "Guinness Foreign Extra Stout", "bouteille 65 cl",
     "65 cl bottle", "Guinness", 1000, "bière|stout", ""),
    ("bieres", "Harp", "Harp", "bouteille 65 cl", "65 cl bottle", "Harp", 650, "bière|beer", ""),
    ("bieres", "Isenbeck", "Isenbeck", "bouteille 65 cl", "65 cl bottle", "Isenbeck", 600,
     "bière|beer", ""),
    ("bieres", "Kadji Beer", "Kadji Beer", "bouteille 65 cl", "65 cl bottle", "Kadji", 600,
     "bière|beer", ""),
    ("bieres", "Heineken", "Heineken", "bouteille 33 cl", "33 cl bottle", "Heineken", 800,
     "bière|beer", ""),
    ("bieres", "Castle Milk Stout", "Castle Milk Stout", "bouteille 33 cl", "33 cl bottle",
     "Castle", 700, "bière|stout", ""),
    # Wine and spirits
    ("vins-spiritueux", "Vin rouge de table", "Red table wine", "brique 1 L", "1 L carton", None,
     1500, "vin", ""),
    ("vins-spiritueux", "Vin rouge Bordeaux", "Bordeaux red wine", "bouteille 75 cl",
     "75 cl bottle", None, 6000, "vin", ""),
    ("vins-spiritueux", "Vin blanc sec", "Dry white wine", "bouteille 75 cl", "75 cl bottle", None,
     5000, "vin", ""),
    ("vins-spiritueux", "Whisky J&B", "J&B whisky", "bouteille 70 cl", "70 cl bottle", "J&B", 12000,
     "whisky", ""),
    ("vins-spiritueux", "Gin Gordon's", "Gordon's gin", "bouteille 70 cl", "70 cl bottle",
     "Gordon's", 9000, "gin", ""),
    ("vins-spiritueux", "Vodka Smirnoff", "Smirnoff vodka", "bouteille 70 cl", "70 cl bottle",
     "Smirnoff", 8000, "vodka", ""),
    ("vins-spiritueux", "Liqueur Amarula", "Amarula cream liqueur", "bouteille 70 cl",
     "70 cl bottle", "Amarula", 12000, "liqueur", ""),
    ("vins-spiritueux", "Champagne brut", "Brut champagne", "bouteille 75 cl", "75 cl bottle", None,
     30000, "fête", ""),
    # Dairy and eggs
    ("produits-laitiers", "Œufs frais", "Fresh eggs", "plateau de 30", "tray of 30", None, 2700,
     "oeufs", "f"),
    ("produits-laitiers", "Œufs frais", "Fresh eggs", "boîte de 6", "box of 6", None, 600, "oeufs",
     ""),
    ("produits-laitiers", "Lait concentré sucré Bonnet Rouge",
     "Bonnet Rouge sweetened condensed milk", "boîte 397 g", "397 g tin", "Bonnet Rouge", 900,
     "lait", "f"),
    ("produits-laitiers", "Lait évaporé Bonnet Rouge", "Bonnet Rouge evaporated milk",
     "boîte 410 g", "410 g tin", "Bonnet Rouge", 800, "lait", ""),
    ("produits-laitiers", "Lait en poudre Bonnet Rouge", "Bonnet Rouge milk powder", "sachet 400 g",
     "400 g bag", "Bonnet Rouge", 2600, "lait", ""),
    ("produits-laitiers", "Lait en poudre Nido", "Nido milk powder", "boîte 400 g", "400 g tin",
     "Nido", 3500, "lait", ""),
    ("produits-laitiers", "Lait en poudre Nido", "Nido milk powder", "boîte 900 g", "900 g tin",
     "Nido", 7000, "lait", ""),
    ("produits-laitiers", "Lait UHT demi-écrémé", "Semi-skimmed UHT milk", "brique 1 L",
     "1 L carton", None, 1300, "lait", ""),
    ("produits-laitiers", "Lait caillé", "Fermented milk", "bouteille 500 ml", "500 ml bottle",
     None, 500, "lait", ""),
    ("produits-laitiers", "Yaourt sucré", "Sweetened yoghurt", "pot 125 g", "125 g pot", None, 300,
     "yaourt", ""),
    ("produits-laitiers", "Yaourt à boire", "Drinking yoghurt", "bouteille 500 ml", "500 ml bottle",
     None, 800, "yaourt", ""),
    ("produits-laitiers", "Fromage La Vache qui rit", "The Laughing Cow cheese", "8 portions",
     "8 portions", "La Vache qui rit", 1300, "fromage", ""),
    ("produits-laitiers", "Gouda en tranches", "Sliced gouda", "200 g", "200 g", None, 2500,
     "fromage", ""),
    ("produits-laitiers", "Beurre doux", "Unsalted butter", "250 g", "250 g", "Président", 2200, "",
     ""),
    ("produits-laitiers", "Margarine", "Margarine", "pot 500 g", "500 g tub", None, 1200, "", ""),
    ("produits-laitiers", "Crème fraîche", "Fresh cream", "20 cl", "20 cl", None, 1200, "", ""),
    # Bakery and breakfast
    ("boulangerie", "Baguette", "Baguette", "pièce 200 g", "200 g each", None, 150, "pain", "f"),
    ("boulangerie", "Pain de mie", "Sandwich loaf", "500 g", "500 g", None, 1000, "pain", ""),
    ("boulangerie", "Pain complet", "Wholemeal bread", "400 g", "400 g", None, 900, "pain", ""),
    ("boulangerie", "Beignets", "Puff-puff (beignets)", "6 pièces", "6 pieces", None, 300,
     "beignets|puff-puff", ""),
    ("boulangerie", "Croissants", "Croissants", "4 pièces", "4 pieces", None, 1500, "", ""),
    ("boulangerie", "Pains au chocolat", "Chocolate croissants", "4 pièces", "4 pieces", None, 1600,
     "", ""),
    ("boulangerie", "Biscottes", "Rusks", "paquet 300 g", "300 g pack", None, 1300, "", ""),
    ("boulangerie", "Tartina pâte à tartiner", "Tartina chocolate spread", "pot 400 g", "400 g jar",
     "Chococam", 1500, "chocolat", ""),
    ("boulangerie", "Cacao en poudre Chococam", "Chococam cocoa powder", "boîte 400 g", "400 g tin",
     "Chococam", 2000, "chocolat", ""),
    ("boulangerie", "Nescafé Classic", "Nescafé Classic", "pot 50 g", "50 g jar", "Nescafé", 1200,
     "café", ""),
    ("boulangerie", "Café arabica moulu de l'Ouest", "Western Highlands ground arabica",
     "paquet 250 g", "250 g pack", None, 2000, "café", ""),
    ("boulangerie", "Thé Lipton Yellow Label", "Lipton Yellow Label tea", "25 sachets",
     "25 tea bags", "Lipton", 900, "thé", ""),
    ("boulangerie", "Corn flakes", "Corn flakes", "boîte 375 g", "375 g box", None, 2500,
     "céréales", ""),
    ("boulangerie", "Flocons d'avoine", "Rolled oats", "500 g", "500 g", "Quaker", 1800, "céréales",
     ""),
    ("boulangerie", "Confiture de fraises", "Strawberry jam", "pot 370 g", "370 g jar", None, 1500,
     "", ""),
    ("boulangerie", "Miel blanc d'Oku", "Oku white honey", "pot 500 g", "500 g jar", None, 3500,
     "miel|IGP", ""),
    ("boulangerie", "Miel de forêt", "Forest honey", "pot 500 g", "500 g jar", None, 2500, "miel",
     ""),
    ("boulangerie", "Gâteau marbré", "Marble cake", "500 g", "500 g", None, 2000, "", ""),
    # Snacks and sweets
    ("snacks", "Chips de plantain", "Plantain chips", "sachet 100 g", "100 g bag", None, 300,
     "chips", "f"),
    ("snacks", "Chips de plantain pimentées", "Spicy plantain chips", "sachet 100 g", "100 g bag",
     None, 350, "chips", ""),
    ("snacks", "Arachides grillées", "Roasted groundnuts", "sachet 100 g", "100 g bag", None, 200,
     "cacahuètes", ""),
    ("snacks", "Arachides sucrées", "Sugar-coated groundnuts", "sachet 100 g", "100 g bag", None,
     250, "cacahuètes", ""),
    ("snacks", "Chin-chin", "Chin chin", "sachet 250 g", "250 g bag", None, 500, "", ""),
    ("snacks", "Noix de cajou grillées", "Roasted cashews", "sachet 200 g", "200 g bag", None, 1500,
     "", ""),
    ("snacks", "Pop-corn", "Popcorn", "sachet 100 g", "100 g bag", None, 300, "", ""),
    ("snacks", "Mambo chocolat au lait", "Mambo milk chocolate", "barre 40 g", "40 g bar",
     "Chococam", 200, "chocolat", ""),
    ("snacks", "Chocolat noir 70 %", "70% dark chocolate", "tablette 100 g", "100 g bar", None,
     1500, "chocolat", ""),
    ("snacks", "Biscuits Oreo", "Oreo biscuits", "paquet 154 g", "154 g pack", "Oreo", 700,
     "biscuits", ""),
    ("snacks", "Biscuits Digestive", "Digestive biscuits", "paquet 400 g", "400 g pack",
     "McVitie's", 1800, "biscuits", ""),
    ("snacks", "Biscuits sablés", "Shortbread biscuits", "paquet 200 g", "200 g pack", None, 600,
     "biscuits", ""),
    ("snacks", "Pringles Original", "Pringles Original", "tube 165 g", "165 g tube", "Pringles",
     2500, "chips", ""),
    ("snacks", "Bonbons à la menthe", "Mint sweets", "sachet 100 g", "100 g bag", None, 300,
     "bonbons", ""),
    ("snacks", "Chewing-gum", "Chewing gum", "paquet de 10", "pack of 10", "Hollywood", 250, "",
     ""),
    ("snacks", "Coco râpé sucré", "Sweet grated coconut", "sachet 100 g", "100 g bag", None, 300,
     "", ""),
    ("snacks", "Banane séchée", "Dried banana", "sachet 150 g", "150 g bag", None, 800, "", ""),
    # Baby care
    ("bebe", "Couches Pampers taille 3", "Pampers nappies size 3", "paquet de 30", "pack of 30",
     "Pampers", 6500, "couches|diapers", "f"),
    ("bebe", "Couches Pampers taille 4", "Pampers nappies size 4", "paquet de 28", "pack of 28",
     "Pampers", 7000, "couches|diapers", ""),
    ("bebe", "Couches Pampers taille 5", "Pampers nappies size 5", "paquet de 24", "pack of 24",
     "Pampers", 7500, "couches|diapers", ""),
    ("bebe", "Couches Molfix taille 3", "Molfix nappies size 3", "paquet de 34", "pack of 34",
     "Molfix", 5500, "couches|diapers", ""),
    ("bebe", "Couches Molfix taille 4", "Molfix nappies size 4", "paquet de 30", "pack of 30",
     "Molfix", 5800, "couches|diapers", ""),
    ("bebe", "Lingettes bébé", "Baby wipes", "paquet de 64", "pack of 64", "Pampers", 2500, "", ""),
    ("bebe", "Lait infantile Guigoz 1er âge", "Guigoz infant formula stage 1", "boîte 400 g",
     "400 g tin", "Guigoz", 6500, "lait bébé", ""),
    ("bebe", "Lait infantile Guigoz 2e âge", "Guigoz follow-on formula stage 2", "boîte 400 g",
     "400 g tin", "Guigoz", 6500, "lait bébé", ""),
    ("bebe", "Lait infantile NAN 1", "NAN 1 infant formula", "boîte 400 g", "400 g tin", "NAN",
     7500, "lait bébé", ""),
    ("bebe", "Céréales Cérélac blé", "Cerelac wheat cereal", "boîte 250 g", "250 g tin", "Cerelac",
     2200, "bouillie", ""),
    ("bebe", "Céréales Cérélac maïs-lait", "Cerelac maize and milk cereal", "boîte 250 g",
     "250 g tin", "Cerelac", 2200, "bouillie", ""),
    ("bebe", "Savon bébé", "Baby soap", "100 g", "100 g", "Johnson's", 1000, "", ""),
    ("bebe", "Huile bébé", "Baby oil", "flacon 200 ml", "200 ml bottle", "Johnson's", 2500, "", ""),
    ("bebe", "Biberon", "Feeding bottle", "250 ml", "250 ml", None, 2500, "", ""),
    ("bebe", "Talc bébé", "Baby powder", "200 g", "200 g", "Johnson's", 1800, "", ""),
    ("bebe", "Crème pour le change", "Nappy cream", "tube 100 g", "100 g tube", None, 2500, "", ""),
    # Hygiene and beauty
    ("hygiene", "Savon Lux", "Lux soap", "175 g", "175 g", "Lux", 500, "savon", ""),
    ("hygiene", "Savon antiseptique Dettol", "Dettol antiseptic soap", "90 g", "90 g", "Dettol",
     700, "savon", ""),
    ("hygiene", "Savon noir", "African black soap", "200 g", "200 g", None, 800, "savon", ""),
    ("hygiene", "Dentifrice Signal", "Signal toothpaste", "tube 75 ml", "75 ml tube", "Signal", 900,
     "dents", "f"),
    ("hygiene", "Dentifrice Colgate", "Colgate toothpaste", "tube 100 ml", "100 ml tube", "Colgate",
     1200, "dents", ""),
    ("hygiene", "Brosse à dents", "Toothbrush", "pièce", "each", None, 500, "dents", ""),
    ("hygiene", "Papier toilette", "Toilet paper", "4 rouleaux", "4 rolls", None, 1200, "", "f"),
    ("hygiene", "Papier toilette", "Toilet paper", "12 rouleaux", "12 rolls", None, 3300, "", ""),
    ("hygiene", "Serviettes hygiéniques Always", "Always sanitary pads", "paquet de 8", "pack of 8",
     "Always", 1200, "", ""),
    ("hygiene", "Déodorant Rexona", "Rexona deodorant", "spray 150 ml", "150 ml spray", "Rexona",
     2500, "", ""),
    ("hygiene", "Vaseline", "Vaseline petroleum jelly", "pot 250 ml", "250 ml jar", "Vaseline",
     1800, "", ""),
    ("hygiene", "Lait corporel Nivea", "Nivea body lotion", "flacon 400 ml", "400 ml bottle",
     "Nivea", 4500, "", ""),
    ("hygiene", "Shampooing", "Shampoo", "flacon 400 ml", "400 ml bottle", None, 2500, "", ""),
    ("hygiene", "Rasoirs jetables", "Disposable razors", "paquet de 5", "pack of 5", "Gillette",
     1500, "", ""),
    ("hygiene", "Coton-tiges", "Cotton buds", "boîte de 100", "box of 100", None, 500, "", ""),
    ("hygiene", "Gel hydroalcoolique", "Hand sanitiser", "flacon 100 ml", "100 ml bottle", None,
     1000, "", ""),
    ("hygiene", "Beurre de karité pur", "Pure shea butter", "pot 250 g", "250 g jar", None, 1500,
     "karité", ""),
    ("hygiene", "Huile de coco vierge", "Virgin coconut oil", "flacon 250 ml", "250 ml bottle",
     None, 2000, "", ""),
    ("hygiene", "Mouchoirs en papier", "Paper tissues", "paquet de 10", "pack of 10", None, 300, "",
     ""),
    ("hygiene", "Gel douche", "Shower gel", "flacon 500 ml", "500 ml bottle", None, 2000, "", ""),
    # Household
    ("entretien", "Eau de Javel", "Bleach", "bouteille 1 L", "1 L bottle", "La Croix", 700, "javel",
     "f"),
    ("entretien", "Lessive en poudre OMO", "OMO washing powder", "sachet 500 g", "500 g bag", "OMO",
     1000, "lessive", ""),
    ("entretien", "Lessive en poudre OMO", "OMO washing powder", "sachet 1 kg", "1 kg bag", "OMO",
     1900, "lessive", ""),
    ("entretien", "Savon de ménage", "Household bar soap", "barre 400 g", "400 g bar", None, 400,
     "savon", ""),
    ("entretien", "Liquide vaisselle", "Washing-up liquid", "flacon 750 ml", "750 ml bottle",
     "Sunlight", 1200, "vaisselle", ""),
    ("entretien", "Éponges à récurer", "Scouring sponges", "paquet de 3", "pack of 3", None, 500,
     "vaisselle", ""),
    ("entretien", "Insecticide Baygon", "Baygon insect spray", "aérosol 300 ml", "300 ml spray",
     "Baygon", 2500, "moustiques", ""),
    ("entretien", "Spirales anti-moustiques", "Mosquito coils", "boîte de 10", "box of 10", None,
     500, "moustiques", ""),
    ("entretien", "Allumettes", "Matches", "paquet de 10 boîtes", "pack of 10 boxes", None, 300, "",
     ""),
    ("entretien", "Bougies", "Candles", "paquet de 6", "pack of 6", None, 700, "délestage", ""),
    ("entretien", "Sacs poubelle 50 L", "Bin bags 50 L", "rouleau de 20", "roll of 20", None, 800,
     "", ""),
    ("entretien", "Papier aluminium", "Aluminium foil", "rouleau 10 m", "10 m roll", None, 1500, "",
     ""),
    ("entretien", "Charbon de bois", "Charcoal", "sac 5 kg", "5 kg bag", None, 1500, "braise", ""),
    ("entretien", "Piles AA", "AA batteries", "paquet de 4", "pack of 4", None, 1200, "délestage",
     ""),
    ("entretien", "Lampe torche LED", "LED torch", "pièce", "each", None, 2500, "délestage", ""),
    ("entretien", "Serpillière", "Floor cloth", "pièce", "each", None, 1000, "", ""),
    ("entretien", "Balai", "Broom", "pièce", "each", None, 1000, "", ""),
    ("entretien", "Nettoyant sol parfumé", "Scented floor cleaner", "bouteille 1 L", "1 L bottle",
     None, 1500, "", ""),
    ("entretien", "Désodorisant d'intérieur", "Air freshener", "aérosol 300 ml", "300 ml spray",
     None, 1800, "", ""),
    ("entretien", "Assouplissant", "Fabric softener", "bouteille 1 L", "1 L bottle", None, 1800,
     "lessive", ""),
    ("entretien", "Gants de ménage", "Rubber gloves", "paire", "pair", None, 800, "", ""),
]
# fmt: on

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "Feuilles de ndolé lavées": (
        "Feuilles de ndolé déjà lavées et débarrassées de leur amertume, prêtes pour la "
        "sauce aux arachides.",
        "Bitterleaf already washed of its bitterness, ready for groundnut ndolé stew.",
    ),
    "Bâton de manioc": (
        "Bâton de manioc fermenté cuit dans les feuilles, l'accompagnement du ndolé et du "
        "poisson braisé.",
        "Fermented cassava cooked in leaves, the classic side for ndolé and grilled fish.",
    ),
    "Poivre blanc de Penja": (
        "Poivre blanc de la vallée de Penja, indication géographique protégée.",
        "White pepper from the Penja valley, a protected geographical indication.",
    ),
    "Miel blanc d'Oku": (
        "Miel blanc des hauts plateaux d'Oku, indication géographique protégée.",
        "White honey from the Oku highlands, a protected geographical indication.",
    ),
    "33 Export": (
        "Bière blonde brassée au Cameroun. Vente interdite aux mineurs.",
        "Lager brewed in Cameroon. Not sold to minors.",
    ),
    "Crevettes séchées": (
        "Crevettes séchées (njanga) pour relever sauces et ndolé.",
        "Dried crayfish (njanga) to flavour sauces and ndolé.",
    ),
    "Plantain mûr": (
        "Plantain bien mûr, parfait pour le plantain frit (dodo) ou le koki.",
        "Ripe plantain, perfect fried (dodo) or with koki.",
    ),
}

CATEGORY_TAGS: dict[str, list[str]] = {
    "bieres": ["alcool"],
    "vins-spiritueux": ["alcool"],
    "legumes-feuilles": ["légumes"],
    "poisson-fume-seche": ["poisson"],
}


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def make_sku(category: str, name: str, unit: str, taken: set[str]) -> str:
    prefix = re.sub(r"[^A-Z]", "", fold(category).upper())[:3]
    words = re.findall(r"[A-Z0-9]+", fold(f"{name} {unit}").upper())
    body = "-".join(words)[:40].strip("-")
    sku = f"{prefix}-{body}"
    n = 2
    while sku in taken:
        sku = f"{prefix}-{body}-{n}"
        n += 1
    taken.add(sku)
    return sku


def ean13(sku: str) -> str:
    digits = "6" + str(int(hashlib.sha256(sku.encode()).hexdigest(), 16))[:11]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def round_price(value: float) -> int:
    return max(25, round(value / 25.0) * 25)


def build() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = random.Random(237)
    categories = []
    positions: dict[str | None, int] = {}
    for slug, parent, fr, en in CATEGORIES:
        positions[parent] = positions.get(parent, -1) + 1
        categories.append(
            {
                "id": ident("category", slug),
                "slug": slug,
                "parent_id": ident("category", parent) if parent else None,
                "name": {"fr": fr, "en": en},
                "position": positions[parent],
            }
        )
    products = []
    base_prices: dict[str, int] = {}
    kinds: dict[str, str] = {}
    taken: set[str] = set()
    for category, name_fr, name_en, unit_fr, unit_en, brand, price, tags, flags in PRODUCTS:
        sku = make_sku(category, name_fr, unit_fr, taken)
        images = [{"url": f"{IMAGE_BASE}/{sku.lower()}/{w}.webp", "width": w} for w in IMAGE_WIDTHS]
        description = DESCRIPTIONS.get(name_fr)
        products.append(
            {
                "id": ident("product", sku),
                "sku": sku,
                "category_id": ident("category", category),
                "name": {"fr": name_fr, "en": name_en},
                "description": (
                    {"fr": description[0], "en": description[1]} if description else None
                ),
                "brand": brand,
                "unit": {"fr": unit_fr, "en": unit_en},
                "barcode": ean13(sku) if brand else None,
                "images": images,
                "tags": [t for t in tags.split("|") if t] + CATEGORY_TAGS.get(category, []),
                "sold_by_weight": "w" in flags,
                "featured": "f" in flags,
            }
        )
        base_prices[sku] = price
        kinds[sku] = category
    stores = []
    offers = []
    stock = []
    for entry in STORES:
        store = {"id": ident("store", entry["slug"]), **entry, "status": "open"}
        store.setdefault("delivery_polygon", None)
        stores.append(store)
        partner = entry["kind"] == "partner"
        yaounde = entry["city"] == "Yaoundé"
        for product in products:
            sku = product["sku"]
            keep = rng.random() < (PARTNER_SHARE if partner else 0.96)
            if product["featured"] and not partner:
                keep = True  # the home screen always has something to show
            if not keep:
                continue
            price = float(base_prices[sku])
            category = kinds[sku]
            if yaounde and category.startswith("poisson"):
                price *= 1.10  # sea fish travels 250 km inland
            if yaounde and category in ("legumes-feuilles", "tubercules-plantains"):
                price *= 0.95  # closer to the farms of the Centre region
            if partner:
                price *= 1.05
            listed = rng.random() >= 0.01
            offers.append(
                {
                    "store_id": store["id"],
                    "product_id": product["id"],
                    "price_xaf": round_price(price),
                    "listed": listed,
                }
            )
            drink = category in ("eaux", "sodas-jus", "bieres")
            fresh = category in (
                "legumes",
                "legumes-feuilles",
                "tubercules-plantains",
                "fruits",
                "poisson-frais",
                "viandes",
                "boulangerie",
            )
            threshold = 12 if drink else 3 if fresh else 5
            roll = rng.random()
            if roll < 0.04:
                on_hand = 0  # sold out: the app shows it greyed out
            elif roll < 0.10:
                on_hand = rng.randint(1, threshold)  # low: inventory raises LowStock
            else:
                on_hand = rng.randint(threshold + 1, 240 if drink else 80)
            if partner:
                on_hand = min(on_hand, 30)
            stock.append(
                {
                    "store_id": store["id"],
                    "product_id": product["id"],
                    "on_hand": on_hand,
                    "low_stock_threshold": threshold,
                }
            )
    catalog = {
        "format": 1,
        "generated_by": "scripts/make_seed.py",
        "namespace": str(NAMESPACE),
        "stores": stores,
        "categories": categories,
        "products": products,
        "offers": offers,
    }
    return catalog, stock


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def render_catalog(catalog: dict[str, Any]) -> str:
    """One record per line: small diffs, and still plain JSON."""
    parts = []
    for key, value in catalog.items():
        if isinstance(value, list):
            body = ",\n".join("  " + _line(item) for item in value)
            parts.append(f' "{key}": [\n{body}\n ]')
        else:
            parts.append(f' "{key}": {_line(value)}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def render_stock(stock: list[dict[str, Any]]) -> str:
    return "[\n" + ",\n".join(" " + _line(row) for row in stock) + "\n]\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    catalog, stock = build()
    outputs = {CATALOG_FILE: render_catalog(catalog), STOCK_FILE: render_stock(stock)}
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        size = len(text.encode())
        assert size < 1_000_000, f"{path} is {size} bytes"
        print(f"{path.relative_to(ROOT)}: {size} bytes", file=sys.stderr)
    print(
        f"{len(catalog['stores'])} stores, {len(catalog['categories'])} categories, "
        f"{len(catalog['products'])} products, {len(catalog['offers'])} offers, "
        f"{len(stock)} stock rows",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
