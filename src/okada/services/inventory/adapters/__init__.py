"""Inventory adapters: tables, repositories, unit of work and the seed file reader."""
