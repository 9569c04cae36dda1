"""PartsTech: the standard webhook flow works as is (AUTRANEX partner notes); no mapping."""

from integrations.adapters.base import Adapter


class PartsTech(Adapter):
    name = "partstech"
    label = "PartsTech"
