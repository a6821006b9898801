"""What a field name probably means, for the generic heuristic parser.

Unknown carriers name the same facts in a hundred ways (`trackingNumber`,
`tracking_no`, `AWB`, `event-date`, `EventTime`, `statusDescription`...), and
in their own languages (`Sendungsnummer`, `numer`, `codEnvio`, `Datum`,
`heure`, `czas`, `libelle`, `omschrijving`, `pays`, `Ort`...). Keys are folded
to lower-case letters and digits and classified by the words they contain.
Classification is cached: real feeds repeat a few dozen keys.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=4096)
def fold(key: str) -> str:
    """'Event-Date' / 'event_date' / 'eventDate' -> 'eventdate'."""
    return _NOT_ALNUM.sub("", key.lower()) if len(key) <= 80 else ""


# --- tracking number ---------------------------------------------------------------
_TN_EXACT = {
    "waybill": 8, "waybillnumber": 8, "waybillno": 8, "awb": 8, "awbnumber": 8, "awbno": 8, "airwaybill": 8,
    "airwaybillnumber": 8, "housewaybill": 7, "hawb": 7, "consignment": 7, "consignmentnumber": 8,
    "consignmentno": 8, "consignmentid": 7, "pin": 7, "parcelnumber": 8, "parcelno": 8, "parcelid": 6,
    "parcelcode": 7, "packagenumber": 7, "packageid": 5, "shipmentnumber": 7, "shipmentno": 7,
    "shipmentid": 5, "itemnumber": 6, "itemid": 4, "mailpieceid": 6, "inquirynumber": 8, "trackno": 9,
    "tracknumber": 9, "trackid": 8, "trackingid": 9, "tracking": 8, "tn": 6, "id": 1, "identifier": 1,
}


# A parcel noun and a number word, in either order: shipmentNumber, Sendungsnummer,
# zendingnummer, numeroColis, codEnvio, numerPrzesylki, shipmentCode...
_TN_NOUNS = ("shipment", "parcel", "package", "consignment", "piece", "sendung", "paket", "zending", "pakket",
             "colis", "envoi", "expedition", "envio", "paquete", "przesylk", "paczk", "spedizion", "pacco",
             "forsendelse", "kolli", "objeto", "encomenda", "item")
_TN_NUMBER_WORDS = ("number", "nummer", "numer", "numero", "nr", "no", "num", "nbr")
_TN_CODE_WORDS = ("code", "codigo", "codice", "cod", "kod")
_TN_NOT = ("previous", "return", "retour", "original", "parent", "alternat", "related", "associated", "linked",
           "master", "order", "reference", "customer", "invoice", "account", "count")
_TN_BARE = {"number": 3, "nummer": 3, "numer": 3, "numero": 3, "nr": 2}


@lru_cache(maxsize=4096)
def tracking_score(k: str) -> int:
    """How strongly a folded key names a tracking number (0 = not at all, 1 = a bare id)."""
    if k in _TN_EXACT:
        return _TN_EXACT[k]
    if k in _TN_BARE:
        return _TN_BARE[k]
    if any(w in k for w in _TN_NOT):
        return 2 if ("track" in k or any(n in k for n in _TN_NOUNS)) and _numbered(k) else 0
    if "track" in k and k.endswith(("number", "no", "num", "nbr", "code", "id")):
        return 10
    if "barcode" in k or "waybill" in k or k.endswith("awb"):
        return 8
    noun = next((n for n in _TN_NOUNS if n in k), None)
    if noun is None:
        return 0
    weak = 2 if noun == "item" else 0  # an item number is as often an article number as a parcel's
    if k.endswith(_TN_NUMBER_WORDS) or k.startswith(_TN_NUMBER_WORDS):
        return 7 - weak
    if k.endswith(_TN_CODE_WORDS) or k.startswith(_TN_CODE_WORDS):
        return 6 - weak
    if k.endswith("id"):
        return 5 - weak
    return 0


def _numbered(k: str) -> bool:
    return k.endswith(_TN_NUMBER_WORDS + _TN_CODE_WORDS + ("id",)) or k.startswith(_TN_NUMBER_WORDS)


# --- time ---------------------------------------------------------------------------
_TIME_WORDS = ("timestamp", "datetime", "date", "time", "occurred", "when",
               # de, nl/sv, es, pt/it, fr, pl
               "datum", "zeit", "fecha", "hora", "heure", "czas", "godzina", "tidpunkt")
_TIME_NOT = ("zone", "estimat", "expect", "schedul", "promis", "window", "transit", "timeout", "deadline",
             "cutoff", "duration", "validity", "expir", "predict", "offset", "format", "voraus", "prevu",
             "previst", "verwacht", "geplant", "planned", "horario", "ahora")
_TIME_EVENT = ("event", "occur", "scan", "activity", "checkpoint", "local", "status", "action", "ereignis",
               "evenement", "evento", "zdarzen")
_DATA_NOT = ("set", "source", "type", "base", "center", "centre", "provider", "sheet", "url", "link")


def _names_time(k: str) -> bool:
    if any(w in k for w in _TIME_WORDS) or (k.endswith("edat") and len(k) > 4):
        return True
    # "data" is a date in Polish, Italian and Portuguese (dataNadania, dataOra), and a wrapper in English
    return k.startswith("data") and len(k) > 5 and not k[4:].startswith(_DATA_NOT)


@lru_cache(maxsize=4096)
def time_rank(k: str) -> int:
    """0 (an event time) .. 2 (a record-keeping time); -1 when the key is not a time."""
    if not _names_time(k):
        return -1
    if any(w in k for w in _TIME_NOT) or k.startswith("eta"):
        return -1
    if any(w in k for w in _TIME_EVENT):
        return 0
    if "update" in k or "modif" in k or "creat" in k or "receiv" in k:
        return 2
    return 1


def is_utc_key(k: str) -> bool:
    return "utc" in k or "gmt" in k


def is_zone_key(k: str) -> bool:
    return k.endswith(("zone", "tz", "timezone", "utcoffset", "gmtoffset", "tzoffset"))


# --- description ----------------------------------------------------------------------
_DESC_NOT = ("url", "link", "image", "icon", "signat", "service", "product", "packag", "commodit", "content",
             "goods", "location", "address", "city", "country", "facility", "weight", "dimension", "customer",
             "recipient", "sender", "shipper", "currency", "language", "locale", "carrier", "company", "operat",
             "relais", "emplacement", "adresse", "lieu", "ville", "pays", "unit", "office", "branch")
_GOODS = ("shipment", "item", "piece", "parcel", "consignment", "cargo")
_DESC_EXACT = {"event": 2, "eventname": 2, "eventstatus": 2, "text": 2, "statusname": 2, "action": 2,
               "scan": 2, "instructions": 2, "instruction": 2,
               "title": 3, "note": 3, "notes": 3, "statussummary": 3, "status": 3, "state": 4,
               "statuslabel": 3, "name": 5,
               # fr, de, nl, es/pt/it, pl: label, text, status, name
               "libelle": 1, "texte": 2, "tekst": 2, "opis": 0, "statut": 3, "etat": 4, "estado": 3, "stato": 3,
               "zustand": 4, "nazwa": 5, "naam": 5, "nom": 5, "nombre": 5, "nome": 5}
_DESCRIPTION_WORDS = ("description", "descri", "beschreibung", "omschrijving", "libelle", "libell")


@lru_cache(maxsize=4096)
def desc_rank(k: str) -> int:
    """0 (a description proper) .. 5 (a bare name); -1 when the key is not scan text."""
    if k.endswith(("code", "id", "type", "cd", "count", "flag", "enabled", "date", "time", "kod", "codigo")):
        return -1
    if any(w in k for w in _DESC_NOT):
        return -1
    if any(w in k for w in _DESCRIPTION_WORDS) or k == "desc" or k.endswith("desc"):
        if any(w in k for w in _GOODS) and not any(w in k for w in ("status", "event", "scan", "track")):
            return -1  # what is in the box, not what happened to it
        return 0 if not k.startswith("reason") else 2
    if any(w in k for w in ("message", "statustext", "eventtext", "remark", "detail", "activity")):
        return 1
    if k in _DESC_EXACT:
        return _DESC_EXACT[k]
    if k.endswith(("text", "texte", "tekst")) and len(k) > 4:
        return 2  # summaryText, eventLongText, extendedText
    return -1


# --- codes and coarse status -------------------------------------------------------------
_CODE_EXACT = ("eventcode", "statuscode", "scancode", "activitycode", "checkpointcode", "code", "eventtype",
               "scantype", "subtag", "substatus", "substatuscode", "reasoncode", "statusreasoncode",
               "descriptioncode", "eventidentifier", "milestonecode", "typecode", "kod", "codigo", "codice",
               "codeevenement", "ereigniscode")
_CODE_CONTEXT = ("status", "event", "scan", "activity", "reason", "exception", "checkpoint", "milestone",
                 "action")


@lru_cache(maxsize=4096)
def code_rank(k: str) -> int:
    """Position of a code key, most specific first; -1 when the key is not an event code."""
    if k in _CODE_EXACT:
        return _CODE_EXACT.index(k)
    if k.endswith("code") and any(w in k for w in _CODE_CONTEXT) and "attribute" not in k:
        return len(_CODE_EXACT)
    return -1


_COARSE = ("status", "state", "tag", "statuscategory", "category", "phase", "statustype", "milestone", "stage",
           "derivedstatus", "statusgroup", "eventstatus")


def is_coarse_key(k: str) -> bool:
    return k in _COARSE


# --- places ------------------------------------------------------------------------------
_POSTAL_WORDS = ("zip", "postal", "postcode", "postleit", "codepostal", "codigopostal", "kodpocztowy",
                 "postnummer", "pincode")
_COUNTRY_WORDS = ("country", "pays", "pais", "kraj", "paese", "landcode")
_CITY_ENDS = ("city", "town", "locality", "cityname", "municipality", "ville", "stadt", "ciudad", "miasto",
              "citta", "plaats", "cidade", "localidad", "localite", "miejscowosc", "gemeinde")
_PLACE_EXACT = ("location", "place", "eventlocation", "scanlocation", "locationname", "eventplace",
                "checkpointlocation", "facility", "facilityname", "office", "area", "address", "lieu",
                "emplacement", "standort", "locatie", "lugar", "ubicacion", "miejsce", "luogo", "scannedlocation",
                "statuslocation", "ort")


@lru_cache(maxsize=4096)
def place_role(k: str) -> str | None:
    """'city' | 'region' | 'postal' | 'country' | 'place' (a one-line location) | None."""
    if any(w in k for w in _POSTAL_WORDS) or k in ("plz", "cp", "cap"):
        return "postal"
    if any(w in k for w in _COUNTRY_WORDS) or k == "land":
        return "country"
    if k.endswith(_CITY_ENDS) or k in ("site", "eventsite"):
        return "city"
    if k.endswith(("province", "provincecode", "statecode", "region", "regioncode", "stateprovince",
                   "stateorprovince", "stateorprovincecode", "stateprovincecode", "provincia", "provincie",
                   "bundesland", "wojewodztwo", "departement")):
        return "region"
    if k.endswith("state"):
        return "state"  # a region only where the record is clearly about a place
    if k in _PLACE_EXACT or k.endswith("placename"):
        return "place"
    return None


_PLACE_CONTEXT = ("location", "address", "place", "facility", "position", "geo", "site", "office", "station",
                  "depot", "hub", "area", "adresse", "direccion", "adres", "lieu", "standort", "unidad", "unidade",
                  "jednostka", "placowka", "agence", "agencia", "filiale", "sucursal", "branch")
_SKIP_CONTEXT = ("origin", "destination", "recipient", "receiver", "shipper", "sender", "consignee",
                 "consignor", "customer", "billing", "return", "dimension", "weight", "contact", "delivery",
                 "pickup", "sender", "estimat", "expect", "image", "document", "link",
                 # the parties and ends in other languages
                 "absender", "empfanger", "empfaenger", "expediteur", "destinataire", "remitente", "destinatario",
                 "nadawca", "odbiorca", "adresat", "afzender", "ontvanger", "origen", "destino", "herkunft",
                 "nadani", "przezn", "mittente")


@lru_cache(maxsize=4096)
def context(k: str) -> str | None:
    """What a nested object's key says about the fields inside it: 'place', 'skip' or None."""
    if k in ("from", "to", "shipto", "shipfrom"):
        return "skip"
    if any(w in k for w in _SKIP_CONTEXT):
        return "skip"
    if any(w in k for w in _PLACE_CONTEXT):
        return "place"
    return None


# --- shipment-level facts ------------------------------------------------------------------
_CARRIER = ("carrier", "carriername", "carriercode", "carrierslug", "slug", "courier", "couriercode",
            "couriername", "courierslug", "provider", "providername", "shippingcarrier", "carrierscac", "scac")


def is_carrier_key(k: str) -> bool:
    return k in _CARRIER


@lru_cache(maxsize=4096)
def is_estimate_key(k: str) -> bool:
    if k == "eta" or k.startswith("eta"):
        return True
    return ((any(w in k for w in ("estimat", "expected", "promised", "predicted", "scheduleddelivery"))
             or k.startswith("est"))
            and any(w in k for w in ("date", "time", "delivery", "dlvy", "eta")) and "utc" not in k)


def is_signer_key(k: str) -> bool:
    return any(w in k for w in ("signedby", "signer", "signatory", "receivedby"))


_ERROR_KEYS = ("error", "errors", "fault", "errormessage", "errordescription", "errordetail", "errordetails",
               "faultstring", "errorinfo", "warning", "warnings", "condition", "conditions", "notification",
               "notifications", "problem", "problems")


def is_error_key(k: str) -> bool:
    return k in _ERROR_KEYS


_NOT_TN_SOURCE = ("phone", "fax", "account", "customer", "reference", "order", "invoice", "zip", "postal",
                  "weight", "amount", "price", "date", "time", "ref", "mobile", "tel", "code", "vat")


@lru_cache(maxsize=4096)
def may_hold_tracking_number(k: str) -> bool:
    """False for keys whose values are never tracking numbers (phone, account, order...): not searched."""
    return not any(w in k for w in _NOT_TN_SOURCE) or tracking_score(k) > 0


# --- everything about one key at once ----------------------------------------------------
class KeyProfile(NamedTuple):
    zone: bool
    role: str | None
    time_rank: int
    utc: bool
    code_rank: int
    desc_rank: int
    coarse: bool
    signer: bool
    tracking: int
    names_carrier: bool


@lru_cache(maxsize=4096)
def profile(k: str) -> KeyProfile:
    """Every classification of a folded key, looked up once per key rather than once per question."""
    return KeyProfile(is_zone_key(k), place_role(k), time_rank(k), is_utc_key(k), code_rank(k), desc_rank(k),
                      is_coarse_key(k), is_signer_key(k), tracking_score(k),
                      k in ("carrier", "courier", "slug", "carriercode", "carriername"))
