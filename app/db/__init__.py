"""Data layer: the Peewee database behind the DB binding, models and the migration runner."""
