"""Loaders for the real sequence and time-series data sets bundled with skrnn."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_JAPANESE_VOWELS_DESCR = """\
Japanese vowels (speaker recognition)
-------------------------------------

Nine male speakers uttered the Japanese vowels /ae/. Each utterance is a
sequence of 7 to 29 frames of 12 LPC cepstrum coefficients; the task is to
recognise the speaker ('1' to '9').

- Training set: 270 sequences (30 per speaker).
- Test set: 370 sequences.

Source: UCI Machine Learning Repository (Kudo, Toyama & Shimbo 1999),
CC BY 4.0, as distributed in the UCR/UEA archive with sktime 1.2.0.
"""

_BASIC_MOTIONS_DESCR = """\
Basic motions (activity recognition)
------------------------------------

Accelerometer and gyroscope readings (6 channels) from a smart watch,
sampled at 10 Hz for 10 s, so every sequence has 100 steps; the task is to
recognise the activity: Standing, Running, Walking or Badminton.

- Training set: 40 sequences (10 per activity).
- Test set: 40 sequences (10 per activity).

Source: UEA multivariate time series classification archive, as shipped
with sktime 1.2.0.
"""

_SUNSPOTS_DESCR = """\
Yearly sunspot numbers
----------------------

Yearly mean sunspot numbers from 1700 to 2008 (309 values).

Source: NGDC, public domain, as shipped with statsmodels 0.15.0.
"""

_CO2_DESCR = """\
Mauna Loa atmospheric CO2
-------------------------

Weekly atmospheric CO2 concentration (ppm) at Mauna Loa, from 1958-03-29 to
2001-12-29 (2284 weeks). The 59 missing weeks were filled by linear
interpolation. The series has a strong upward trend, so a forecaster must
extrapolate beyond the range of values seen in training.

Source: Keeling & Whorf, SIO/CDIAC, public domain, as shipped with
statsmodels 0.15.0.
"""

_HKCANCOR_POS_DESCR = """\
Hong Kong Cantonese Corpus, part-of-speech tagging
--------------------------------------------------

Transcribed conversational Cantonese, one sequence per utterance and one step
per word. Each word is given as Chinese characters and as Jyutping
romanisation, and is tagged with one of 14 Universal Dependencies parts of
speech. The split is by source file: every 5th of the 58 sorted files is in
the test set.

- Training set: 12,392 utterances (119,815 words).
- Test set: 3,770 utterances (33,841 words).
- Utterance lengths: 2 to 107 words.

Source: Luke & Wong (2015), CC BY 4.0, as shipped with pycantonese 5.0.0;
tags converted to UD with pycantonese's own mapping.
"""


def _load_npz(filename):
    """Read every array stored in a bundled ``.npz`` file into a dict."""
    ref = resources.files(__package__) / "data" / filename
    # ``as_file`` yields a real path even if the package is imported from a
    # zip archive.
    with resources.as_file(ref) as path, np.load(path, allow_pickle=False) as data:
        # Indexing an NpzFile decompresses a new array on each access, so the
        # arrays returned belong to this call alone and outlive the file.
        return {key: data[key] for key in data.files}


def _split_by_lengths(values, lengths, dtype=None):
    """Cut the concatenation of ragged sequences back into a list of sequences.

    Parameters
    ----------
    values : ndarray of shape (sum(lengths), ...)
        The sequences, concatenated along the first axis.

    lengths : ndarray of shape (n_sequences,)
        The number of steps in each sequence, in order.

    dtype : dtype, default=None
        Data type of the returned sequences. If None, keep that of `values`.

    Returns
    -------
    sequences : list of ndarray of shape (lengths[i], ...)
        C-contiguous arrays, each owning its memory.
    """
    lengths = np.asarray(lengths)
    if lengths.sum() != values.shape[0]:
        raise ValueError(
            f"The sequence lengths add up to {lengths.sum()}, but "
            f"{values.shape[0]} steps are stored."
        )
    # Copying each sequence rather than returning views means that keeping a
    # single sequence does not keep the whole concatenation alive.
    return [
        np.array(sequence, dtype=dtype, order="C")
        for sequence in np.split(values, np.cumsum(lengths)[:-1])
    ]


def _load_sequence_classification(filename, descr, return_X_y):
    """Load a train/test sequence classification data set."""
    data = _load_npz(filename)
    target_names = data["classes"]
    X_train, X_test = (
        _split_by_lengths(data[f"X_{split}"], data[f"len_{split}"], np.float64)
        for split in ("train", "test")
    )
    # The files store class indices; users want the names, which is what a
    # classifier's ``classes_`` and predictions will then hold.
    y_train = target_names[data["y_train"]]
    y_test = target_names[data["y_test"]]

    if return_X_y:
        return X_train, X_test, y_train, y_test

    return Bunch(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        target_names=target_names,
        DESCR=descr,
    )


def load_japanese_vowels(*, return_X_y=False):
    """Load the Japanese vowels data set (sequence classification).

    Nine male speakers uttered the Japanese vowels /ae/; each utterance is
    recorded as a sequence of frames of 12 LPC cepstrum coefficients. The task
    is to recognise the speaker. The sequences are ragged, from 7 to 29 frames
    long.

    =================   ==============
    Classes                          9
    Samples train                  270
    Samples test                   370
    Features                        12
    Sequence length            7 to 29
    =================   ==============

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(X_train, X_test, y_train, y_test)`` instead of a
        Bunch object.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        X_train : list of ndarray of shape (n_frames, 12), length 270
            The training sequences, as C-contiguous float64 arrays.
        X_test : list of ndarray of shape (n_frames, 12), length 370
            The test sequences, as C-contiguous float64 arrays.
        y_train : ndarray of shape (270,)
            The speaker of each training sequence, a string from '1' to '9'.
        y_test : ndarray of shape (370,)
            The speaker of each test sequence, a string from '1' to '9'.
        target_names : ndarray of shape (9,)
            The speakers, '1' to '9'.
        DESCR : str
            A description of the data set.

    (X_train, X_test, y_train, y_test) : tuple if ``return_X_y`` is True
        The four items above, in the order of
        :func:`~sklearn.model_selection.train_test_split`.

    Notes
    -----
    Source and licence: UCI Machine Learning Repository (Kudo, Toyama & Shimbo
    1999), CC BY 4.0; as distributed in the UCR/UEA archive `.ts` files shipped
    with sktime 1.2.0 (`sktime/datasets/data/JapaneseVowels/`)

    Examples
    --------
    >>> from skrnn.datasets import load_japanese_vowels
    >>> X_train, X_test, y_train, y_test = load_japanese_vowels(return_X_y=True)
    >>> len(X_train), X_train[0].shape[1]
    (270, 12)
    >>> print(*sorted(set(y_train)))
    1 2 3 4 5 6 7 8 9
    """
    return _load_sequence_classification(
        "japanese_vowels.npz", _JAPANESE_VOWELS_DESCR, return_X_y
    )


def load_basic_motions(*, return_X_y=False):
    """Load the basic motions data set (sequence classification).

    A smart watch recorded its accelerometer and gyroscope (6 channels) at
    10 Hz for 10 s while its wearer was standing, running, walking or playing
    badminton. The task is to recognise the activity. All sequences have 100
    steps.

    =================   ==============
    Classes                          4
    Samples train                   40
    Samples test                    40
    Features                         6
    Sequence length                100
    =================   ==============

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(X_train, X_test, y_train, y_test)`` instead of a
        Bunch object.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        X_train : list of ndarray of shape (100, 6), length 40
            The training sequences, as C-contiguous float64 arrays.
        X_test : list of ndarray of shape (100, 6), length 40
            The test sequences, as C-contiguous float64 arrays.
        y_train : ndarray of shape (40,)
            The activity of each training sequence: 'Standing', 'Running',
            'Walking' or 'Badminton'.
        y_test : ndarray of shape (40,)
            The activity of each test sequence.
        target_names : ndarray of shape (4,)
            The activities.
        DESCR : str
            A description of the data set.

    (X_train, X_test, y_train, y_test) : tuple if ``return_X_y`` is True
        The four items above, in the order of
        :func:`~sklearn.model_selection.train_test_split`.

    Notes
    -----
    Source: UEA multivariate archive, as shipped with sktime 1.2.0
    (`sktime/datasets/data/BasicMotions/`)

    Examples
    --------
    >>> from skrnn.datasets import load_basic_motions
    >>> motions = load_basic_motions()
    >>> len(motions.X_train), motions.X_train[0].shape
    (40, (100, 6))
    >>> print(*motions.target_names)
    Standing Running Walking Badminton
    """
    return _load_sequence_classification(
        "basic_motions.npz", _BASIC_MOTIONS_DESCR, return_X_y
    )


def load_sunspots():
    """Load the yearly sunspot numbers (univariate time series).

    Yearly mean sunspot numbers from 1700 to 2008, a classic forecasting
    benchmark with a roughly 11-year cycle of varying amplitude.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : ndarray of shape (309,)
            The yearly mean sunspot numbers, as float64.
        years : ndarray of shape (309,)
            The year of each value, 1700 to 2008, as int64.
        DESCR : str
            A description of the data set.

    Notes
    -----
    Source and licence: NGDC, public domain; as shipped with statsmodels 0.15.0
    (`statsmodels/datasets/sunspots/`)

    Examples
    --------
    >>> from skrnn.datasets import load_sunspots
    >>> sunspots = load_sunspots()
    >>> sunspots.data.shape
    (309,)
    >>> print(sunspots.years[0], sunspots.years[-1])
    1700 2008
    """
    data = _load_npz("sunspots.npz")
    return Bunch(
        data=data["values"].astype(np.float64, copy=False),
        years=data["years"],
        DESCR=_SUNSPOTS_DESCR,
    )


def load_co2():
    """Load the weekly Mauna Loa CO2 concentrations (univariate time series).

    Weekly atmospheric CO2 concentration at Mauna Loa, in ppm, from 1958-03-29
    to 2001-12-29. The 59 missing weeks were filled by linear interpolation.
    The series has a strong upward trend, so a forecaster must extrapolate
    beyond the values seen in training.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : ndarray of shape (2284,)
            The weekly CO2 concentrations, in ppm, as float64.
        dates : ndarray of shape (2284,)
            The date of each value, as ``datetime64[D]``, 7 days apart.
        n_interpolated : int
            The number of weeks, among `data`, that were missing and filled
            by linear interpolation.
        DESCR : str
            A description of the data set.

    Notes
    -----
    Source and licence: Keeling & Whorf, SIO/CDIAC, public domain; as shipped
    with statsmodels 0.15.0 (`statsmodels/datasets/co2/`)

    Examples
    --------
    >>> from skrnn.datasets import load_co2
    >>> co2 = load_co2()
    >>> co2.data.shape
    (2284,)
    >>> print(co2.dates[0], co2.dates[-1])
    1958-03-29 2001-12-29
    >>> co2.n_interpolated
    59
    """
    data = _load_npz("co2.npz")
    return Bunch(
        data=data["values"].astype(np.float64, copy=False),
        # The dates are stored as ISO strings; datetime64 supports arithmetic
        # and plotting.
        dates=data["dates"].astype("datetime64[D]"),
        n_interpolated=int(data["n_interpolated"]),
        DESCR=_CO2_DESCR,
    )


def load_hkcancor_pos(*, return_X_y=False):
    """Load the Hong Kong Cantonese Corpus for part-of-speech tagging.

    Transcribed conversational Cantonese, one sequence per utterance and one
    step per word. Each word is given both in Chinese characters and in
    Jyutping romanisation (empty for punctuation), and is tagged with one of 14
    Universal Dependencies parts of speech. The split is by source file: every
    5th of the 58 sorted files is in the test set. No numeric features are
    provided: build per-word features from the strings, for instance with
    :class:`~sklearn.feature_extraction.DictVectorizer`.

    =================   ==============
    Tags                            14
    Utterances train            12,392
    Utterances test              3,770
    Words train                119,815
    Words test                  33,841
    Utterance length          2 to 107
    =================   ==============

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(words_train, words_test, tags_train, tags_test)``
        instead of a Bunch object.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        words_train : list of ndarray of shape (n_words,), length 12392
            The words of each training utterance, as strings.
        words_test : list of ndarray of shape (n_words,), length 3770
            The words of each test utterance, as strings.
        jyutping_train : list of ndarray of shape (n_words,), length 12392
            The Jyutping romanisation of each word in `words_train`.
        jyutping_test : list of ndarray of shape (n_words,), length 3770
            The Jyutping romanisation of each word in `words_test`.
        tags_train : list of ndarray of shape (n_words,), length 12392
            The part-of-speech tag of each word in `words_train`, as strings.
        tags_test : list of ndarray of shape (n_words,), length 3770
            The part-of-speech tag of each word in `words_test`, as strings.
        tag_names : ndarray of shape (14,)
            The Universal Dependencies part-of-speech tags.
        DESCR : str
            A description of the data set.

    (words_train, words_test, tags_train, tags_test) : tuple
        Returned instead of the Bunch if ``return_X_y`` is True: the four items
        above, in the order of :func:`~sklearn.model_selection.train_test_split`.

    Notes
    -----
    Source and licence: Luke & Wong (2015), CC BY 4.0; as shipped with
    pycantonese 5.0.0 (`pycantonese/data/hkcancor/`); tags converted to UD with
    pycantonese's own mapping

    Examples
    --------
    >>> from skrnn.datasets import load_hkcancor_pos
    >>> words_train, words_test, tags_train, tags_test = load_hkcancor_pos(
    ...     return_X_y=True
    ... )
    >>> len(words_train), len(words_test)
    (12392, 3770)
    >>> print(*words_train[0])
    喂 遲 啲 去 唔 去 旅行 啊 ?
    >>> print(*tags_train[0])
    INTJ ADJ PART VERB ADV VERB NOUN PART PUNCT
    """
    data = _load_npz("hkcancor_pos.npz")
    tag_names = data["classes"]
    sequences = {}
    for split in ("train", "test"):
        lengths = data[f"len_{split}"]
        sequences[f"words_{split}"] = _split_by_lengths(data[f"words_{split}"], lengths)
        sequences[f"jyutping_{split}"] = _split_by_lengths(
            data[f"jyutping_{split}"], lengths
        )
        # Map the stored indices to tag names, as for the classification
        # loaders, so that a tagger's predictions read as tags.
        sequences[f"tags_{split}"] = _split_by_lengths(
            tag_names[data[f"tags_{split}"]], lengths
        )

    if return_X_y:
        return (
            sequences["words_train"],
            sequences["words_test"],
            sequences["tags_train"],
            sequences["tags_test"],
        )

    return Bunch(**sequences, tag_names=tag_names, DESCR=_HKCANCOR_POS_DESCR)
