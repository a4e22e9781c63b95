"""Realistic, seeded Segment traffic for the local stack.

A product catalog with categories and co-purchase bundles, known users with traits sent by ``identify``,
anonymous visitors, sessions of Product Viewed / Product Added / Order Completed (with ``products[]``), and
a few malformed messages. The same seed gives the same messages, byte for byte, so a run can be repeated.

The generator also says what it made (:attr:`Traffic.facts`, one :class:`Generated` per message): the
messageId, the user, the session, the item ids in order, and which messages it broke and how. The soak
takes the interactions it expects from these facts, never from the workflow's code.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

CATEGORIES = ("shoes", "bags", "outerwear", "electronics", "books", "home", "beauty", "toys")
ADJECTIVES = ("Classic", "Urban", "Trail", "Cozy", "Smart", "Vintage", "Compact", "Deluxe", "Everyday", "Pro")
NOUNS = {
    "shoes": ("Sneaker", "Boot", "Loafer", "Sandal"),
    "bags": ("Backpack", "Tote", "Duffel", "Wallet"),
    "outerwear": ("Parka", "Raincoat", "Fleece", "Blazer"),
    "electronics": ("Headphones", "Speaker", "Charger", "Tablet"),
    "books": ("Cookbook", "Novel", "Atlas", "Guide"),
    "home": ("Lamp", "Throw", "Mug", "Vase"),
    "beauty": ("Serum", "Balm", "Cleanser", "Palette"),
    "toys": ("Puzzle", "Robot", "Kite", "Blocks"),
}
TIMEZONES = ("+00:00", "+01:00", "-05:00", "+05:30", "-08:00", "+09:00")
#: The track events the generator makes; each is an interaction under the default ``INTERACTION_EVENTS``.
INTERACTION_EVENTS = ("Product Viewed", "Product Added", "Order Completed")
#: A large order has this many products or more: more than the 10 events of one PutEvents call.
LARGE_ORDER = 11
#: Why a malformed message is malformed, one per kind the generator makes, in the order it makes them.
MALFORMED_REASONS = (
    "no messageId",
    "timestamp is not a date",
    "neither userId nor anonymousId",
    "empty event name",
    "products is not a list",
)


@dataclass(frozen=True)
class Generated:
    """What the generator knows about one message it made.

    ``items`` are the item ids the message carries, in order; ``per_product`` when they are the products of
    an order (one Personalize event each, eventId ``<messageId>-<index>``, docs/contract.md), else the one
    item of a product event (eventId = the messageId). ``malformed`` says how the generator broke the
    message (one of :data:`MALFORMED_REASONS`), None for a valid one.
    """

    message_id: str | None
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    items: tuple[str, ...] = ()
    per_product: bool = False
    malformed: str | None = None

    @property
    def session_id(self) -> str | None:
        """Personalize's sessionId of the message: the anonymousId, else the userId (docs/contract.md)."""
        return self.anonymous_id or self.user_id

    def interactions(self) -> dict[str, str]:
        """eventId -> itemId of every Personalize event a valid message should become (none when broken)."""
        if self.malformed is not None or self.message_id is None or self.event not in INTERACTION_EVENTS:
            return {}
        if self.per_product:
            return {f"{self.message_id}-{index}": item for index, item in enumerate(self.items)}
        return {self.message_id: self.items[0]} if self.items else {}


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: float

    def properties(self, quantity: int = 1) -> dict[str, Any]:
        return {
            "product_id": self.sku,
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "price": self.price,
            "quantity": quantity,
        }


@dataclass
class Visitor:
    anonymous_id: str
    user_id: str | None
    favorite_departments: tuple[str, ...]
    purchased: list[str] = field(default_factory=list)


@dataclass
class Traffic:
    """What a generation produced: the messages in send order, and the world they describe."""

    messages: list[dict[str, Any]]
    catalog: list[Product]
    visitors: list[Visitor]
    malformed: int
    facts: list[Generated] = field(default_factory=list)  # what each message is, in the same order

    def items_catalog(self) -> dict[str, dict[str, Any]]:
        """itemId -> metadata, the shape the local Personalize service takes."""
        return {p.sku: {"CATEGORY": p.category, "PRICE": p.price, "NAME": p.name} for p in self.catalog}


class TrafficGenerator:
    """Builds seeded Segment traffic; see module docstring."""

    def __init__(
        self,
        seed: int = 7,
        products: int = 120,
        users: int = 60,
        anonymous: int = 20,
        sessions_per_visitor: int = 3,
        malformed: int = 5,
        start: datetime | None = None,
        large_order_every: int = 0,
    ) -> None:
        """``large_order_every`` n > 0: the first order and every n-th after it, of known users and of
        anonymous visitors each, get at least :data:`LARGE_ORDER` products (so Track makes several PutEvents
        calls); 0 leaves orders as they are."""
        self.rng = random.Random(seed)
        self.product_count = products
        self.user_count = users
        self.anonymous_count = anonymous
        self.sessions_per_visitor = sessions_per_visitor
        self.malformed_count = malformed
        self.clock = start or datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
        self.large_order_every = large_order_every
        self._orders = {False: 0, True: 0}  # orders so far, anonymous and identified
        self._facts: dict[int, Generated] = {}  # id(message) -> what it is, while generating

    # ---- world ---------------------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _catalog(self) -> list[Product]:
        catalog = []
        for index in range(self.product_count):
            category = CATEGORIES[index % len(CATEGORIES)]
            name = f"{self.rng.choice(ADJECTIVES)} {self.rng.choice(NOUNS[category])}"
            price = round(self.rng.uniform(8, 240), 2)
            catalog.append(Product(f"SKU-{index + 1:04d}", name, category, price))
        return catalog

    def _visitors(self) -> list[Visitor]:
        visitors = []
        for index in range(self.user_count + self.anonymous_count):
            favorites = tuple(self.rng.sample(CATEGORIES, k=self.rng.choice((1, 2))))
            user_id = f"user-{index + 1:04d}" if index < self.user_count else None
            visitors.append(Visitor(self._uuid(), user_id, favorites))
        return visitors

    @staticmethod
    def _bundles(catalog: list[Product]) -> dict[str, Product]:
        """Each product has a companion in its category that people tend to buy with it."""
        by_category: dict[str, list[Product]] = {}
        for product in catalog:
            by_category.setdefault(product.category, []).append(product)
        companion = {}
        for products in by_category.values():
            for i, product in enumerate(products):
                companion[product.sku] = products[(i + 1) % len(products)] if i % 2 == 0 else products[i - 1]
        return companion

    # ---- messages ------------------------------------------------------------------------------------
    def _stamp(self) -> tuple[str, str]:
        self.clock += timedelta(seconds=self.rng.randint(5, 240))
        offset = self.rng.choice(TIMEZONES)
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        local = (self.clock + delta).replace(tzinfo=None)
        sent = self.clock + timedelta(milliseconds=self.rng.randint(20, 900))
        return local.isoformat(timespec="milliseconds") + offset, sent.isoformat(timespec="milliseconds")[
            :-6
        ] + "Z"

    def _base(self, visitor: Visitor, kind: str, identified: bool) -> dict[str, Any]:
        timestamp, sent_at = self._stamp()
        message: dict[str, Any] = {
            "messageId": f"ajs-next-{self._uuid()}",
            "type": kind,
            "anonymousId": visitor.anonymous_id,
            "timestamp": timestamp,
            "sentAt": sent_at,
            "context": {
                "library": {"name": "analytics.js", "version": "next-1.72.0"},
                "page": {"path": "/", "url": "https://shop.example.com/"},
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            },
            "integrations": {},
            "version": 2,
        }
        if identified and visitor.user_id:
            message["userId"] = visitor.user_id
        self._note(message)
        return message

    def _note(self, message: dict[str, Any], items: tuple[str, ...] = (), per_product: bool = False) -> None:
        self._facts[id(message)] = Generated(
            message.get("messageId"),
            message["type"],
            message.get("event"),
            message.get("userId"),
            message.get("anonymousId"),
            items,
            per_product,
        )

    def _track(
        self, visitor: Visitor, event: str, identified: bool, items: tuple[str, ...] = (), **properties: Any
    ) -> dict[str, Any]:
        message = self._base(visitor, "track", identified)
        message["event"] = event
        message["properties"] = properties
        self._note(message, items or (properties["sku"],), per_product=bool(items))
        return message

    def _identify(self, visitor: Visitor) -> dict[str, Any]:
        message = self._base(visitor, "identify", True)
        number = visitor.user_id.split("-")[-1] if visitor.user_id else "0"
        message["traits"] = {
            "email": f"shopper{number}@example.com",
            "first_name": f"Shopper{number}",
            "favorite_departments": list(visitor.favorite_departments),
            "purchased_products": list(visitor.purchased),
        }
        return message

    def _pick(self, visitor: Visitor, catalog: list[Product]) -> Product:
        if self.rng.random() < 0.8:
            pool = [p for p in catalog if p.category in visitor.favorite_departments]
            # a long tail: earlier products in a category are more popular
            return pool[min(int(self.rng.expovariate(1 / 6)), len(pool) - 1)]
        return self.rng.choice(catalog)

    def _session(
        self, visitor: Visitor, catalog: list[Product], companion: dict[str, Product], identified: bool
    ) -> list[dict[str, Any]]:
        messages = []
        page = self._base(visitor, "page", identified)
        page["name"] = "Home"
        page["properties"] = {"path": "/", "title": "Shop"}
        messages.append(page)
        cart: list[Product] = []
        for _ in range(self.rng.randint(2, 5)):
            product = self._pick(visitor, catalog)
            messages.append(self._track(visitor, "Product Viewed", identified, **product.properties()))
            if self.rng.random() < 0.45:
                messages.append(self._track(visitor, "Product Added", identified, **product.properties()))
                cart.append(product)
                if self.rng.random() < 0.6:
                    extra = companion[product.sku]
                    messages.append(self._track(visitor, "Product Viewed", identified, **extra.properties()))
                    messages.append(self._track(visitor, "Product Added", identified, **extra.properties()))
                    cart.append(extra)
        if cart and self.rng.random() < 0.7:
            unique = self._order(list({p.sku: p for p in cart}.values()), catalog, identified)
            revenue = round(sum(p.price for p in unique), 2)
            messages.append(
                self._track(
                    visitor,
                    "Order Completed",
                    identified,
                    tuple(p.sku for p in unique),
                    order_id=f"ORD-{self.rng.randint(10000, 99999)}",
                    revenue=revenue,
                    currency="USD",
                    products=[p.properties() for p in unique],
                )
            )
            visitor.purchased.extend(p.sku for p in unique if p.sku not in visitor.purchased)
            if identified:
                messages.append(self._identify(visitor))  # a computed purchased_products trait
        return messages

    def _order(self, products: list[Product], catalog: list[Product], identified: bool) -> list[Product]:
        """The products of an order: the cart, made large for every ``large_order_every``-th order."""
        self._orders[identified] += 1
        if not self.large_order_every or (self._orders[identified] - 1) % self.large_order_every:
            return products
        others = [p for p in catalog if p not in products]
        extra = self.rng.randint(LARGE_ORDER, LARGE_ORDER + 8) - len(products)
        return products + self.rng.sample(others, k=max(0, extra))

    def _malformed(self, visitor: Visitor) -> list[dict[str, Any]]:
        broken = []
        no_id = self._track(visitor, "Product Viewed", False, sku="SKU-0001")
        del no_id["messageId"]
        broken.append(no_id)
        bad_time = self._track(visitor, "Product Viewed", False, sku="SKU-0002")
        bad_time["timestamp"] = "2026-13-45T25:61:00Z"
        broken.append(bad_time)
        anonymous = self._track(visitor, "Product Added", False, sku="SKU-0003")
        del anonymous["anonymousId"]
        broken.append(anonymous)
        nameless = self._track(visitor, "Product Viewed", False, sku="SKU-0004")
        nameless["event"] = ""
        broken.append(nameless)
        bad_products = self._track(visitor, "Order Completed", False, ("SKU-0005",), products="SKU-0005")
        broken.append(bad_products)
        for message, reason in zip(broken, MALFORMED_REASONS, strict=True):
            fact = self._facts[id(message)]
            self._facts[id(message)] = replace(
                fact,
                message_id=message.get("messageId"),
                event=message.get("event"),
                anonymous_id=message.get("anonymousId"),
                malformed=reason,
            )
        return broken[: self.malformed_count]

    def generate(self) -> Traffic:
        catalog = self._catalog()
        visitors = self._visitors()
        companion = self._bundles(catalog)
        streams: list[list[dict[str, Any]]] = []
        for visitor in visitors:
            stream: list[dict[str, Any]] = []
            for session in range(self.sessions_per_visitor):
                identified = visitor.user_id is not None and session > 0
                if identified and session == 1:
                    stream.append(self._identify(visitor))
                stream.extend(self._session(visitor, catalog, companion, identified))
            streams.append(stream)
        # interleave visitors as real traffic does, keeping each visitor's own order
        messages: list[dict[str, Any]] = []
        cursors = [0] * len(streams)
        live = [i for i, s in enumerate(streams) if s]
        while live:
            i = self.rng.choice(live)
            messages.append(streams[i][cursors[i]])
            cursors[i] += 1
            if cursors[i] == len(streams[i]):
                live.remove(i)
        broken = self._malformed(visitors[-1])
        for message in broken:
            messages.insert(self.rng.randrange(len(messages) + 1), message)
        facts = [self._facts[id(message)] for message in messages]
        self._facts.clear()
        return Traffic(messages, catalog, visitors, len(broken), facts)


def generate(seed: int = 7, **sizes: Any) -> Traffic:
    """Generate seeded traffic; ``sizes`` are TrafficGenerator's keyword arguments."""
    return TrafficGenerator(seed=seed, **sizes).generate()


def interactions(traffic: Traffic) -> list[Any]:
    """The traffic's item interactions as the local model's ``Interaction`` records, one per (visitor, item):
    the first time a visitor touched an item. Used to measure recommendation quality on a held-out split
    (the model never recommends what a visitor already touched, so later repeats would be unreachable)."""
    from local_stack.personalize.recommender import Interaction

    seen: set[tuple[str, str]] = set()
    result = []
    for message in traffic.messages:
        if message.get("type") != "track" or not message.get("messageId"):
            continue
        actor = message.get("userId") or message.get("anonymousId")
        properties = message.get("properties") or {}
        products = properties.get("products")
        skus = [p["sku"] for p in products] if isinstance(products, list) else [properties.get("sku")]
        try:
            ts = datetime.fromisoformat(message["timestamp"]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue  # the malformed messages: the workflow rejects them, they teach the model nothing
        for sku in skus:
            if actor and sku and (actor, sku) not in seen:
                seen.add((actor, sku))
                result.append(Interaction(actor, sku, message["event"], ts))
    return result
