#!/usr/bin/python3
"""Parses l2sweep's TensorBoard event files with Google's protobuf library.

usage: events_with_protobuf.py PATH/TO/l2sweep PATH/TO/fashion-mnist-mini

A second, independent decoder for the files the C++ test reads with its own decoder: the
tensorflow.Event, Summary and Summary.Value messages are declared here field by field (only
the fields TensorBoard's scalar and histogram readers use; no .proto is copied), and Debian's
python3-protobuf parses every record. Every scalar must equal metrics.csv rounded to
float32, at step = epoch - 1, W1's histogram must count all of W1 at every step, and every
record's length and data CRC-32C must verify.
Exits 77 (CTest: skipped) when python3-protobuf is not installed.
"""
import csv
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import l2sweep_metrics  # noqa: E402

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    print("python3-protobuf is not installed: skipped")
    sys.exit(77)

BINARY, FIXTURE = sys.argv[1], sys.argv[2]
F = descriptor_pb2.FieldDescriptorProto


def event_class():
    proto = descriptor_pb2.FileDescriptorProto(name="l2sweep_event_check.proto",
                                               package="tensorflow", syntax="proto3")
    histo = proto.message_type.add(name="HistogramProto")
    for number, field in enumerate(("min", "max", "num", "sum", "sum_squares"), start=1):
        histo.field.add(name=field, number=number, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    for number, field in ((6, "bucket_limit"), (7, "bucket")):
        histo.field.add(name=field, number=number, type=F.TYPE_DOUBLE, label=F.LABEL_REPEATED,
                        options=descriptor_pb2.FieldOptions(packed=True))
    value = proto.message_type.add(name="SummaryValue")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    value.field.add(name="histo", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".tensorflow.HistogramProto")
    summary = proto.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                      type_name=".tensorflow.SummaryValue")
    event = proto.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".tensorflow.Summary")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        length_bytes = data[at:at + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", data[at + 8:at + 12])
        payload = data[at + 12:at + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[at + 12 + length:at + 16 + length])
        yield length_crc == masked(length_bytes) and payload_crc == masked(payload), payload
        at += 16 + length


def f32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


def main():
    Event = event_class()
    problems, scalars = [], 0
    with tempfile.TemporaryDirectory(prefix="l2sweep-events-") as tmp:
        out = os.path.join(tmp, "out")
        subprocess.run([BINARY, "--data-dir", FIXTURE, "--val-size", "200", "--train-size", "300",
                        "--epochs", "3", "--l2", "0,0.01", "--device", "cpu", "--out", out],
                       check=True, capture_output=True)
        with open(os.path.join(out, "metrics.csv"), newline="") as f:
            rows = {(float(r["l2"]), int(r["epoch"]) - 1): r for r in csv.DictReader(f)}
        # The tags and their columns from the binary's own tables.
        columns = l2sweep_metrics.tensorboard_columns(l2sweep_metrics.metric_listing(BINARY))
        histograms = 0
        for l2 in (0.0, 0.01):
            for writer, tags in columns.items():
                folder = os.path.join(out, "tensorboard", f"l2-{l2:g}_seed-0", writer)
                (name,) = os.listdir(folder)
                seen = set()
                for index, (crc_ok, payload) in enumerate(records(os.path.join(folder, name))):
                    if not crc_ok:
                        problems.append(f"{folder}: record {index} fails its CRC")
                    event = Event()
                    event.ParseFromString(payload)
                    if index == 0:
                        if event.file_version != "brain.Event:2":
                            problems.append(f"{folder}: first event is not the file version")
                        continue
                    for value in event.summary.value:
                        if value.HasField("histo"):
                            h = value.histo
                            norm = float(rows[(l2, event.step)]["w1_norm"])
                            histograms += 1
                            if (writer != "train" or value.tag != "dense/kernel/histogram"
                                    or h.num != 784 * 128 or sum(h.bucket) != h.num
                                    or len(h.bucket_limit) != 30 or h.bucket_limit[-1] != h.max
                                    or abs(h.sum_squares ** 0.5 - norm) > 1e-4 * norm):
                                problems.append(f"{folder} step {event.step}: histogram {h}")
                            continue
                        want = f32(float(rows[(l2, event.step)][tags[value.tag]]))
                        scalars += 1
                        seen.add((value.tag, event.step))
                        if value.simple_value != want:
                            problems.append(f"{folder} {value.tag} step {event.step}: "
                                            f"{value.simple_value} != {want}")
                if seen != {(t, s) for t in tags for s in range(3)}:
                    problems.append(f"{folder}: tags/steps {sorted(seen)}")
    if histograms != 2 * 3:
        problems.append(f"{histograms} W1 histograms, expected one per run and epoch")
    for problem in problems:
        print("FAIL:", problem)
    print(f"{'FAILED' if problems else 'passed'}: {scalars} scalars and {histograms} "
          f"histograms parsed with protobuf, {len(problems)} problem(s)")
    return 1 if problems or scalars == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
