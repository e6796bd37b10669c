"""Alt texts: varied natural English for scenes, real words of other languages, and junk."""

from __future__ import annotations

import numpy as np

from openwit.pipeline.sandbox.scenes import PLURAL, Obj, Scene

_NUM = {1: "one", 2: "two", 3: "three", 4: "four"}
_EN = (
    "{objs}",
    "a photo of {objs}",
    "{objs} on a {bg} background",
    "Illustration of {objs}",
    "close-up of {objs} against a {bg} backdrop",
    "Stock image: {objs}, isolated on {bg}",
    "{Objs} arranged on a {bg} surface",
    "simple drawing with {objs}",
    "clip art - {objs}",
    "A picture showing {objs} over a {bg} background.",
    "{objs} (vector graphic)",
    "abstract pattern of {objs}",
)


def _obj_en(o: Obj, rng: np.random.Generator) -> str:
    texture = "" if o.texture == "plain" else o.texture + " "
    size = o.size + " " if rng.random() < 0.5 else ""
    if o.count == 1:
        word = f"{size}{texture}{o.colour} {o.shape}"
        return ("an " if word[0] in "aeiou" else "a ") + word
    count = _NUM[o.count] if rng.random() < 0.8 else str(o.count)
    return f"{count} {size}{texture}{o.colour} {PLURAL[o.shape]}"


def english(scene: Scene, rng: np.random.Generator) -> str:
    objs = " and ".join(_obj_en(o, rng) for o in scene.objects)
    text = _EN[rng.integers(len(_EN))].format(
        objs=objs, Objs=objs[:1].upper() + objs[1:], bg=scene.background
    )
    return text[:1].upper() + text[1:] if rng.random() < 0.5 else text


# Real words of other languages: shape and colour names and a few whole phrases each, so a
# language identifier has something to go on.
FOREIGN = {
    "de": (
        {
            "circle": "Kreise",
            "square": "Quadrate",
            "triangle": "Dreiecke",
            "star": "Sterne",
            "hexagon": "Sechsecke",
            "heart": "Herzen",
            "cross": "Kreuze",
            "ring": "Ringe",
            "diamond": "Rauten",
            "crescent": "Halbmonde",
        },
        {
            "red": "rote",
            "green": "grüne",
            "blue": "blaue",
            "yellow": "gelbe",
            "orange": "orangefarbene",
            "purple": "lila",
            "pink": "rosa",
            "brown": "braune",
            "black": "schwarze",
            "white": "weiße",
        },
        (
            "Ein Bild mit {c} {s} auf einem hellen Hintergrund",
            "Zeichnung: mehrere {c} {s} und ein Rahmen, kostenlos herunterladen",
            "Abbildung der {c} {s} für den Unterricht in der Schule",
        ),
    ),
    "fr": (
        {
            "circle": "cercles",
            "square": "carrés",
            "triangle": "triangles",
            "star": "étoiles",
            "hexagon": "hexagones",
            "heart": "cœurs",
            "cross": "croix",
            "ring": "anneaux",
            "diamond": "losanges",
            "crescent": "croissants",
        },
        {
            "red": "rouges",
            "green": "verts",
            "blue": "bleus",
            "yellow": "jaunes",
            "orange": "orange",
            "purple": "violets",
            "pink": "roses",
            "brown": "marron",
            "black": "noirs",
            "white": "blancs",
        },
        (
            "Une image avec des {s} {c} sur un fond clair",
            "Dessin de plusieurs {s} {c}, à télécharger gratuitement",
            "Illustration des {s} {c} pour les enfants de l'école",
        ),
    ),
    "es": (
        {
            "circle": "círculos",
            "square": "cuadrados",
            "triangle": "triángulos",
            "star": "estrellas",
            "hexagon": "hexágonos",
            "heart": "corazones",
            "cross": "cruces",
            "ring": "anillos",
            "diamond": "rombos",
            "crescent": "lunas",
        },
        {
            "red": "rojos",
            "green": "verdes",
            "blue": "azules",
            "yellow": "amarillos",
            "orange": "naranjas",
            "purple": "morados",
            "pink": "rosados",
            "brown": "marrones",
            "black": "negros",
            "white": "blancos",
        },
        (
            "Una imagen con {s} {c} sobre un fondo claro",
            "Dibujo de varios {s} {c}, descarga gratis para tu proyecto",
            "Ilustración de los {s} {c} para los niños de la escuela",
        ),
    ),
    "it": (
        {
            "circle": "cerchi",
            "square": "quadrati",
            "triangle": "triangoli",
            "star": "stelle",
            "hexagon": "esagoni",
            "heart": "cuori",
            "cross": "croci",
            "ring": "anelli",
            "diamond": "rombi",
            "crescent": "mezzelune",
        },
        {
            "red": "rossi",
            "green": "verdi",
            "blue": "blu",
            "yellow": "gialli",
            "orange": "arancioni",
            "purple": "viola",
            "pink": "rosa",
            "brown": "marroni",
            "black": "neri",
            "white": "bianchi",
        },
        (
            "Un'immagine con {s} {c} su uno sfondo chiaro",
            "Disegno di alcuni {s} {c}, da scaricare gratuitamente",
            "Illustrazione dei {s} {c} per i bambini della scuola",
        ),
    ),
    "nl": (
        {
            "circle": "cirkels",
            "square": "vierkanten",
            "triangle": "driehoeken",
            "star": "sterren",
            "hexagon": "zeshoeken",
            "heart": "harten",
            "cross": "kruisen",
            "ring": "ringen",
            "diamond": "ruiten",
            "crescent": "halve manen",
        },
        {
            "red": "rode",
            "green": "groene",
            "blue": "blauwe",
            "yellow": "gele",
            "orange": "oranje",
            "purple": "paarse",
            "pink": "roze",
            "brown": "bruine",
            "black": "zwarte",
            "white": "witte",
        },
        (
            "Een afbeelding met {c} {s} op een lichte achtergrond",
            "Tekening van een paar {c} {s}, gratis te downloaden",
            "Illustratie van de {c} {s} voor de kinderen op school",
        ),
    ),
    "pt": (
        {
            "circle": "círculos",
            "square": "quadrados",
            "triangle": "triângulos",
            "star": "estrelas",
            "hexagon": "hexágonos",
            "heart": "corações",
            "cross": "cruzes",
            "ring": "anéis",
            "diamond": "losangos",
            "crescent": "luas",
        },
        {
            "red": "vermelhos",
            "green": "verdes",
            "blue": "azuis",
            "yellow": "amarelos",
            "orange": "laranjas",
            "purple": "roxos",
            "pink": "rosados",
            "brown": "marrons",
            "black": "pretos",
            "white": "brancos",
        },
        (
            "Uma imagem com {s} {c} sobre um fundo claro",
            "Desenho de vários {s} {c}, para baixar grátis",
            "Ilustração dos {s} {c} para as crianças da escola",
        ),
    ),
}
LANGS = tuple(FOREIGN)


def foreign(scene: Scene, lang: str, rng: np.random.Generator) -> str:
    shapes, colours, templates = FOREIGN[lang]
    o = scene.main
    return templates[rng.integers(len(templates))].format(s=shapes[o.shape], c=colours[o.colour])


def foreign_title(title: str, lang: str, rng: np.random.Generator) -> str:
    """A non-English caption for an image whose English title we know: a phrase around it."""
    templates = FOREIGN[lang][2]
    return templates[rng.integers(len(templates))].format(s=title, c="").replace("  ", " ")


JUNK_KINDS = ("filename", "click_here", "empty", "very_long", "url_only")
_BOILER = (
    "click here",
    "image",
    "photo",
    "Click to enlarge",
    "thumbnail",
    "read more",
    "untitled",
    "logo",
)


def junk(kind: str, rng: np.random.Generator, words: list[str]) -> str:
    if kind == "filename":
        stem = rng.choice(["IMG_", "DSC", "image-", "photo_", "Screenshot_2024-"])
        return f"{stem}{rng.integers(1000, 99999)}.{rng.choice(['jpg', 'JPG', 'png', 'jpeg'])}"
    if kind == "click_here":
        return str(rng.choice(_BOILER))
    if kind == "empty":
        return ""
    if kind == "very_long":
        out, n = [], 0
        while n < 5000:
            w = words[rng.integers(len(words))]
            out.append(w)
            n += len(w) + 1
        return " ".join(out)[:5000]
    if kind == "url_only":
        return f"http://site{rng.integers(100)}.sandbox.test/files/{rng.integers(10**6)}.html"
    raise ValueError(kind)


def mojibake(text: str) -> str:
    """UTF-8 bytes shown as Windows-1252 ("cafÃ©"); bytes cp1252 leaves undefined show as the
    Latin-1 control characters, as browsers do."""
    out = []
    for b in text.encode("utf-8"):
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out)
