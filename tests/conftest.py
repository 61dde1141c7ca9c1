"""Shared fixtures: test images made in code or shipped inside scikit-image."""

import ipaddress
import socket

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """Any connection from the tests' own process beyond this machine fails the test.

    Nothing may download at run time (models, images, fonts); loopback (the
    Streamlit server under test) and Unix sockets stay allowed.
    """
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                local = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = False
            if not local:
                raise AssertionError(f"a test tried to connect to {address}: nothing may use the network")
        return real_connect(sock, address)

    socket.socket.connect = connect
    yield
    socket.socket.connect = real_connect


@pytest.fixture(scope="session")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def textured_face(astronaut):
    """The astronaut with fine pore-like luminance texture added (uint8 RGB)."""
    import cv2

    rng = np.random.default_rng(3)
    pores = cv2.GaussianBlur(rng.normal(0, 6, astronaut.shape[:2]).astype(np.float32), (0, 0), 0.8)
    return np.clip(astronaut.astype(np.float32) + pores[..., None], 0, 255).astype(np.uint8)
