"""The incident behind guard, replayed with the ORM that caused it.

A game studio's peewee models, the data they held, and the "drop and
recreate all tables" helper that was written for a local database and run
against production.  test/demo drives this file; it is run with Debian's
/usr/bin/python3 (python3-peewee, python3-psycopg2).

    incident.py --host SOCKDIR --port PORT --dbname DB load     tables + data
    incident.py --host SOCKDIR --port PORT --dbname DB counts   rows per table
    incident.py --host SOCKDIR --port PORT --dbname DB replay   run the helper

replay exits 0 only when the server refused the helper with SQLSTATE 42501
(insufficient_privilege); 1 when the helper ran through (the data is gone);
2 when it failed in some other way.
"""

import argparse
import datetime
import decimal
import logging
import random
import sys

import peewee
import psycopg2
import psycopg2.errors
from peewee import (CharField, DateField, DateTimeField, DecimalField,
                    ForeignKeyField, IntegerField, Model)

# Bound in main(), once the connection parameters are known.
db = peewee.PostgresqlDatabase(None)


class BaseModel(Model):
    class Meta:
        database = db


class Game(BaseModel):
    title = CharField(unique=True)
    genre = CharField()
    released_on = DateField()


class Player(BaseModel):
    username = CharField(unique=True)
    email = CharField()
    country = CharField(max_length=2)
    joined_at = DateTimeField()


class Round(BaseModel):
    game = ForeignKeyField(Game, backref='rounds')
    started_at = DateTimeField()
    duration_s = IntegerField()


class Score(BaseModel):
    round = ForeignKeyField(Round, backref='scores')
    player = ForeignKeyField(Player, backref='scores')
    points = IntegerField()


class Order(BaseModel):  # table "order": a reserved word, peewee quotes it
    player = ForeignKeyField(Player, backref='orders')
    game = ForeignKeyField(Game, backref='orders')
    amount = DecimalField(max_digits=8, decimal_places=2)
    placed_at = DateTimeField()


MODELS = [Game, Player, Round, Score, Order]


def reset_database():
    """The founder's helper, exactly: drop everything, create it afresh."""
    db.drop_tables(MODELS)
    db.create_tables(MODELS)


def load():
    """Tables with foreign keys between them, and a few thousand rows."""
    rng = random.Random(42)  # the same data on every run
    epoch = datetime.datetime(2023, 1, 1, 9, 0)
    genres = ['puzzle', 'racing', 'strategy', 'platformer', 'trivia']
    countries = ['FR', 'DE', 'US', 'BR', 'JP', 'IN', 'SE', 'NG']

    def batched(model, rows, size=500):
        for i in range(0, len(rows), size):
            model.insert_many(rows[i:i + size]).execute()

    db.create_tables(MODELS)
    with db.atomic():
        batched(Game, [
            {'title': 'Game %02d' % i, 'genre': rng.choice(genres),
             'released_on': (epoch + datetime.timedelta(days=30 * i)).date()}
            for i in range(1, 13)])
        batched(Player, [
            {'username': 'player%04d' % i,
             'email': 'player%04d@example.com' % i,
             'country': rng.choice(countries),
             'joined_at': epoch + datetime.timedelta(minutes=rng.randrange(500000))}
            for i in range(1, 801)])
        game_ids = [g.id for g in Game.select(Game.id)]
        player_ids = [p.id for p in Player.select(Player.id)]
        batched(Round, [
            {'game': rng.choice(game_ids),
             'started_at': epoch + datetime.timedelta(minutes=rng.randrange(500000)),
             'duration_s': rng.randrange(60, 1800)}
            for _ in range(1500)])
        round_ids = [r.id for r in Round.select(Round.id)]
        batched(Score, [
            {'round': rng.choice(round_ids), 'player': rng.choice(player_ids),
             'points': rng.randrange(0, 10000)}
            for _ in range(6000)])
        batched(Order, [
            {'player': rng.choice(player_ids), 'game': rng.choice(game_ids),
             'amount': decimal.Decimal(rng.choice([199, 499, 999, 1999])) / 100,
             'placed_at': epoch + datetime.timedelta(minutes=rng.randrange(500000))}
            for _ in range(1200)])


def counts():
    """One line per table, "table rows"; "table -" when it does not exist."""
    for model in MODELS:
        name = model._meta.table_name
        if model.table_exists():
            print('%s %d' % (name, model.select().count()))
        else:
            print('%s -' % name)


def replay():
    # Show every statement peewee sends, which the founder never saw; peewee
    # logs each one as a (sql, params) pair.
    class SQLOnly(logging.Formatter):
        def format(self, record):
            msg = record.msg
            if isinstance(msg, tuple) and msg:
                msg = msg[0] + ('  %r' % (msg[1],) if msg[1:] and msg[1] else '')
            return '  peewee sends: %s' % (msg,)
    logger = logging.getLogger('peewee')
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(SQLOnly())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    print('reset_database():  db.drop_tables(MODELS); db.create_tables(MODELS)')
    try:
        reset_database()
    except peewee.DatabaseError as e:
        orig = getattr(e, 'orig', None)  # the driver's error, which peewee wraps
        print()
        print('the ORM raised   %s.%s' % (type(e).__module__, type(e).__name__))
        if isinstance(orig, psycopg2.Error):
            print('wrapping         %s.%s (SQLSTATE %s)'
                  % (type(orig).__module__, type(orig).__name__, orig.pgcode))
            print()
            print(orig.pgerror.rstrip())
        if isinstance(orig, psycopg2.errors.InsufficientPrivilege):
            return 0
        print('unexpected error: %r' % (e,), file=sys.stderr)
        return 2
    print()
    print('the helper ran through: the tables were dropped and recreated empty',
          file=sys.stderr)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--host', required=True, help='unix socket directory')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--dbname', required=True)
    ap.add_argument('--application-name', default='reset_db.py')
    ap.add_argument('command', choices=['load', 'counts', 'replay'])
    args = ap.parse_args()

    db.init(args.dbname, host=args.host, port=args.port, user='postgres',
            application_name=args.application_name)
    try:
        with db.connection_context():
            if args.command == 'load':
                load()
            elif args.command == 'counts':
                counts()
            else:
                return replay()
    except peewee.DatabaseError as e:
        print('%s: %s' % (args.command, e), file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
