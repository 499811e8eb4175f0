"""Idempotent metric getters."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from prism.sdk.metrics import (
    get_counter,
    get_gauge,
    get_histogram,
    get_or_create_counter,
    get_or_create_gauge,
    get_or_create_histogram,
)


def test_same_name_returns_same_collector() -> None:
    reg = CollectorRegistry()
    c1 = get_counter("prism_test_requests_total", "doc", ["method"], registry=reg)
    c2 = get_counter("prism_test_requests_total", "other doc", ["method"], registry=reg)
    assert c1 is c2
    # the "_total" suffix is optional, as in prometheus_client
    assert get_counter("prism_test_requests", "doc", ["method"], registry=reg) is c1
    c1.labels(method="Get").inc()
    c2.labels(method="Get").inc()
    assert reg.get_sample_value("prism_test_requests_total", {"method": "Get"}) == 2.0


def test_gauge_and_histogram_idempotent() -> None:
    reg = CollectorRegistry()
    g = get_gauge("prism_test_gauge", "doc", registry=reg)
    assert get_gauge("prism_test_gauge", "doc", registry=reg) is g
    h = get_histogram("prism_test_seconds", "doc", ["m"], buckets=(0.1, 1.0), registry=reg)
    assert get_histogram("prism_test_seconds", "doc", ["m"], registry=reg) is h
    h.labels(m="x").observe(0.5)
    assert reg.get_sample_value("prism_test_seconds_bucket", {"m": "x", "le": "1.0"}) == 1.0
    assert isinstance(g, Gauge) and isinstance(h, Histogram)


def test_default_registry_is_used_and_repeat_creation_does_not_crash() -> None:
    name = "prism_test_default_registry_total"
    c = get_counter(name, "doc")
    assert get_or_create_counter(name, "doc") is c
    c.inc()
    assert REGISTRY.get_sample_value(name) is not None
    REGISTRY.unregister(c)


def test_aliases() -> None:
    reg = CollectorRegistry()
    assert get_or_create_gauge("a", "d", registry=reg) is get_gauge("a", "d", registry=reg)
    assert get_or_create_histogram("b", "d", registry=reg) is get_histogram("b", "d", registry=reg)


def test_collector_registered_directly_is_reused() -> None:
    reg = CollectorRegistry()
    direct = Counter("prism_test_direct", "doc", registry=reg)
    assert get_counter("prism_test_direct_total", "doc", registry=reg) is direct


def test_type_mismatch_is_an_error() -> None:
    reg = CollectorRegistry()
    get_counter("prism_test_thing", "doc", registry=reg)
    with pytest.raises(ValueError, match="already registered as Counter, not Gauge"):
        get_gauge("prism_test_thing", "doc", registry=reg)


def test_label_mismatch_is_an_error() -> None:
    reg = CollectorRegistry()
    get_gauge("prism_test_labels", "doc", ["a"], registry=reg)
    with pytest.raises(ValueError, match=r"labels \['a'\], not \['b'\]"):
        get_gauge("prism_test_labels", "doc", ["b"], registry=reg)


def test_unregistered_collector_is_recreated() -> None:
    reg = CollectorRegistry()
    g1 = get_gauge("prism_test_gone", "doc", registry=reg)
    reg.unregister(g1)
    g2 = get_gauge("prism_test_gone", "doc", registry=reg)
    assert g2 is not g1
