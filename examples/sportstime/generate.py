#!/usr/bin/env python3
"""Generates the SportsTime example data set (deterministic: fixed seed, stdlib only).

32 stadiums (CloudKit-native JSON), 60 teams (plain YAML) and 5,760 games over two
seasons (plain NDJSON): 5,852 records. Stadium names and team names are invented; cities
and coordinates are real. Run from anywhere: python3 examples/sportstime/generate.py
"""

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20250301
HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

# (slug, stadium name, city, latitude, longitude, capacity, opened YYYY-MM-DD)
STADIUMS = [
    ("boston", "Back Bay Grounds", "Boston", 42.3467, -71.0972, 37755, "1912-04-20"),
    ("bronx", "Concourse Park", "New York", 40.8296, -73.9262, 46537, "2009-04-16"),
    ("brooklyn", "Atlantic Yards Field", "Brooklyn", 40.6826, -73.9754, 35000, "2012-09-28"),
    ("philadelphia", "Liberty Bell Park", "Philadelphia", 39.9061, -75.1665, 42792, "2004-04-12"),
    ("baltimore", "Harbor Point Field", "Baltimore", 39.2839, -76.6217, 45971, "1992-04-06"),
    ("washington", "Navy Yard Park", "Washington", 38.8730, -77.0074, 41339, "2008-03-30"),
    ("pittsburgh", "Three Rivers Ballpark", "Pittsburgh", 40.4469, -80.0057, 38747, "2001-04-09"),
    ("cleveland", "Lakefront Field", "Cleveland", 41.4962, -81.6852, 34830, "1994-04-04"),
    ("detroit", "Woodward Park", "Detroit", 42.3390, -83.0485, 41083, "2000-04-11"),
    ("chicago", "Lakeshore Stadium", "Chicago", 41.8299, -87.6338, 40615, "1991-04-18"),
    ("milwaukee", "Brewers Hill Field", "Milwaukee", 43.0280, -87.9712, 41900, "2001-04-06"),
    ("minneapolis", "North Star Field", "Minneapolis", 44.9817, -93.2776, 38544, "2010-04-12"),
    ("st-louis", "Gateway Park", "St. Louis", 38.6226, -90.1928, 44383, "2006-04-10"),
    ("kansas-city", "Fountain City Stadium", "Kansas City", 39.0517, -94.4803, 37903, "1973-04-10"),
    ("denver", "Mile High Ballpark", "Denver", 39.7559, -104.9942, 50144, "1995-04-26"),
    ("phoenix", "Desert Sky Field", "Phoenix", 33.4455, -112.0667, 48686, "1998-03-31"),
    ("los-angeles", "Chavez Ravine Park", "Los Angeles", 34.0739, -118.2400, 56000, "1962-04-10"),
    ("san-diego", "Gaslamp Field", "San Diego", 32.7073, -117.1566, 40209, "2004-04-08"),
    ("san-francisco", "China Basin Park", "San Francisco", 37.7786, -122.3893, 41915, "2000-04-11"),
    ("oakland", "Estuary Coliseum", "Oakland", 37.7516, -122.2005, 46847, "1966-09-18"),
    ("seattle", "Sound Side Field", "Seattle", 47.5914, -122.3325, 47929, "1999-07-15"),
    ("houston", "Union Station Park", "Houston", 29.7573, -95.3555, 41168, "2000-03-30"),
    ("arlington", "Lone Star Field", "Arlington", 32.7473, -97.0847, 40300, "2020-03-31"),
    ("atlanta", "Peachtree Park", "Atlanta", 33.8908, -84.4678, 41084, "2017-04-14"),
    ("miami", "Little Havana Stadium", "Miami", 25.7781, -80.2197, 37442, "2012-04-04"),
    ("tampa", "Bay Dome", "St. Petersburg", 27.7683, -82.6534, 25000, "1990-03-03"),
    ("cincinnati", "Riverfront Ballpark", "Cincinnati", 39.0974, -84.5066, 43891, "2003-03-31"),
    ("toronto", "Lakeshore Dome", "Toronto", 43.6414, -79.3894, 41500, "1989-06-03"),
    ("nashville", "Music Row Stadium", "Nashville", 36.1664, -86.7713, 30000, "2022-02-26"),
    ("charlotte", "Queen City Field", "Charlotte", 35.2258, -80.8528, 74867, "1996-09-14"),
    ("salt-lake-city", "Wasatch Park", "Salt Lake City", 40.7683, -111.9011, 20213, "2008-10-09"),
    ("portland", "Rose City Field", "Portland", 45.5316, -122.6668, 25218, "1926-10-09"),
]

MASCOTS = [
    "Harbormen", "Knights", "Bridges", "Founders", "Mariners", "Statesmen", "Ironmen",
    "Lakers", "Motors", "Windmen", "Barrelmen", "Lumberjacks", "Arches", "Jazzmen",
    "Peaks", "Scorpions", "Palms", "Surfers", "Fog", "Oaks", "Orcas", "Bayous",
    "Wranglers", "Peaches", "Flamingos", "Pelicans", "Riverboats", "Maples", "Fiddlers",
    "Miners", "Pioneers", "Roses", "Minutemen", "Empire", "Trolleys", "Quakers", "Crabs",
    "Federals", "Forgemen", "Spiders", "Mechanics", "Bison", "Badgers", "Loons", "Clydes",
    "Stockyards", "Summits", "Gilas", "Stars", "Waves", "Seals", "Longshoremen",
    "Ferries", "Wildcatters", "Mustangs", "Dogwoods", "Tarpons", "Manatees", "Canalers",
    "Beavers",
]

COLORS = [
    "red", "navy", "royal blue", "white", "gold", "black", "green", "orange", "silver",
    "teal", "purple", "maroon", "sky blue", "forest green", "crimson", "gray",
]

TEAM_COUNT = 60
SEASONS = [(2024, "2024-03-28"), (2025, "2025-03-27")]
ROUNDS_PER_SEASON = 96  # 30 games a round: 2,880 games a season, 96 games a team
START_TIMES = ["17:05", "20:10", "23:05", "23:40"]  # UTC


def millis(date: str) -> int:
    moment = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def stadium_records():
    records = []
    for slug, name, city, latitude, longitude, capacity, opened in STADIUMS:
        records.append({
            "recordName": f"stadium-{slug}",
            "recordType": "Stadium",
            "fields": {
                "name": {"value": name, "type": "STRING"},
                "city": {"value": city, "type": "STRING"},
                "location": {
                    "value": {"latitude": latitude, "longitude": longitude},
                    "type": "LOCATION",
                },
                "capacity": {"value": capacity, "type": "INT64"},
                "opened": {"value": millis(opened), "type": "TIMESTAMP"},
            },
        })
    return records


def teams(rng: random.Random):
    result = []
    for index in range(TEAM_COUNT):
        # The first 32 teams have a stadium each; the other 28 share one.
        slug, _, city, *_ = STADIUMS[index % len(STADIUMS)]
        result.append({
            "id": index + 1,
            "name": f"{city} {MASCOTS[index]}",
            "city": city,
            "stadium": f"stadium-{slug}",
            "founded": rng.randint(1871, 2012),
            "colors": rng.sample(COLORS, rng.choice([2, 2, 3])),
        })
    return result


def games(rng: random.Random, team_list):
    stadium_of = {f"team-{t['id']}": t["stadium"] for t in team_list}
    names = sorted(stadium_of, key=lambda n: int(n.split("-")[1]))
    result = []
    for season, opening in SEASONS:
        day = datetime.strptime(opening, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        for round_index in range(ROUNDS_PER_SEASON):
            if round_index and round_index % 6 == 0:
                day += timedelta(days=1)  # an off day every six rounds
            order = names[:]
            rng.shuffle(order)
            used = set()
            for home, away in zip(order[0::2], order[1::2]):
                # Teams sharing a stadium are not both at home on the same day, if avoidable.
                if stadium_of[home] in used and stadium_of[away] not in used:
                    home, away = away, home
                used.add(stadium_of[home])
                hour, minute = map(int, rng.choice(START_TIMES).split(":"))
                start = day + timedelta(hours=hour, minutes=minute)
                result.append({
                    "id": len(result) + 1,
                    "season": season,
                    "home": home,
                    "away": away,
                    "stadium": stadium_of[home],
                    "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                })
            day += timedelta(days=1)
    return result


def yaml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML string


def write_teams(path: Path, team_list):
    lines = ["# SportsTime teams: plain records, typed by `fields:` in ckplan.yaml.",
             "# Generated by generate.py; edit the generator, not this file."]
    for team in team_list:
        colors = ", ".join(yaml_string(c) for c in team["colors"])
        lines += [
            f"- id: {team['id']}",
            f"  name: {yaml_string(team['name'])}",
            f"  city: {yaml_string(team['city'])}",
            f"  stadium: {yaml_string(team['stadium'])}",
            f"  founded: {team['founded']}",
            f"  colors: [{colors}]",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main():
    rng = random.Random(SEED)
    DATA.mkdir(exist_ok=True)
    stadiums = stadium_records()
    (DATA / "stadiums.json").write_text(
        json.dumps(stadiums, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    team_list = teams(rng)
    write_teams(DATA / "teams.yaml", team_list)
    game_list = games(rng, team_list)
    with open(DATA / "games.ndjson", "w", encoding="utf-8") as out:
        for game in game_list:
            out.write(json.dumps(game, ensure_ascii=False) + "\n")
    total = len(stadiums) + len(team_list) + len(game_list)
    print(f"{len(stadiums)} stadiums, {len(team_list)} teams, {len(game_list)} games: "
          f"{total} records")


if __name__ == "__main__":
    main()
