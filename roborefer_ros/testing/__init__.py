"""Fixtures only the tests use (a fake G1 that follows arm_sdk commands); nothing else imports."""
