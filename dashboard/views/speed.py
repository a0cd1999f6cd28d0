"""Speed: training throughput, sampling time at batch 1 and 64 and against image size,
parameters, peak memory and device, all read from the runs store (nothing is timed here)."""

import streamlit as st

from genzoo.dashboard import data, speed_data, widgets

reg = data.registry()
records = data.completed_runs()
results = speed_data.bench_results()
readable = [result for result in results if "error" not in result]

st.title("Speed")
st.caption("The lecture's trade-off, measured: an autoregressive model (PixelCNN, PixelRNN) "
           "samples one pixel at a time, one network pass each, so it is slow to sample and "
           "slower the bigger the image; a VAE or a GAN samples in one pass. Times are the best "
           "of 3 calls after a warm-up; each ratio column says how many times slower than the "
           "fastest model in its table a model is (1 = fastest). Nothing is timed when this "
           "page opens: the numbers come from the runs store.")

for result in results:
    if "error" in result:
        st.warning(f"Cannot read the benchmark `{result['file']}`: {result['error']}")


def variants_section(result: dict) -> None:
    """Precision (fp32, bf16) and torch.compile variants of the benchmark, and the FLOPs a
    training step does against what the device achieved."""
    variants = speed_data.variants_frame(result)
    if not variants.empty:
        st.subheader("Precision and compilation")
        st.caption("Each model trained in each variant (`genzoo bench --precisions fp32,bf16 "
                   "--modes eager,compiled`, the default on a GPU): bf16 is autocast in "
                   "bfloat16 (likelihoods are always evaluated in fp32), compiled is "
                   "`torch.compile` of the training step. Speed-up is examples/s over the "
                   "model's first variant. Sampling is timed eagerly in each precision.")
        st.plotly_chart(speed_data.variants_figure(variants), key="bench-variants")
        st.dataframe(variants, hide_index=True, column_config=speed_data.column_config())
        widgets.csv_download(variants, speed_data.csv_name("variants", result["file"]),
                             key="variants-csv")
    work = speed_data.utilization_frame(result)
    if not work.empty:
        st.caption("Work per training step, counted by `torch.utils.flop_counter` (matrix "
                   "products and convolutions, forward and backward), and the TFLOP/s the "
                   "device achieved; on a GPU of known data sheet, as a share of its dense "
                   "bf16 peak.")
        st.dataframe(work, hide_index=True)


def bench_section():
    """The newest (or the picked) `genzoo bench` result: tables, bars, size sweep."""
    st.header("Side by side: `genzoo bench`", divider="gray")
    if not readable:
        st.info(f"No `{speed_data.BENCH_COMMAND}` results in the runs store `{data.store_home()}` "
                "yet. It times every model side by side in one process, on the same data with "
                "default configs, and fills in what training runs do not record: peak memory "
                "(on a GPU) and sampling time against image size. Run it from a terminal (a "
                "few minutes on a CPU; `--models` picks some):")
        st.code(speed_data.BENCH_COMMAND, language="bash")
        return
    labels = [speed_data.bench_label(result) for result in readable]
    index = 0
    if len(readable) > 1:
        index = st.selectbox("Benchmark (newest first)", range(len(readable)),
                             format_func=lambda i: labels[i])
    result = readable[index]
    env = result.get("environment", {})
    st.caption(f"Measured on **{env.get('device', '?')}** · torch {env.get('torch', '?')} · "
               f"genzoo {env.get('genzoo') or '?'} · Python {env.get('python', '?')} · "
               f"{env.get('time', '?')} · dataset {result.get('dataset', '?')}, "
               f"{result.get('steps', '?')} training steps per model · default configs, "
               f"untrained weights (speed does not depend on them) · saved as "
               f"`bench/{result['file']}` in the runs store.")
    table = speed_data.bench_frame(result)
    st.dataframe(table, hide_index=True, column_config=speed_data.column_config())
    widgets.csv_download(table, speed_data.csv_name("bench", result["file"]), key="bench-csv")
    if speed_data.bench_on_cpu(result):
        st.caption(speed_data.NO_PEAK_ON_CPU)
    st.plotly_chart(speed_data.sampling_figure(table, "Sampling time"), key="bench-sampling")
    st.plotly_chart(speed_data.training_figure(table, "Training throughput"),
                    key="bench-training")

    variants_section(result)

    st.subheader("Sampling time against image size")
    scaling = speed_data.scaling_frame(result)
    if scaling.empty:
        st.caption("This benchmark timed no other image sizes: "
                   f"`{speed_data.BENCH_COMMAND} --sizes 8,16,28`.")
        return
    st.caption("Each model built for square images of each size (default config, random "
               "weights) and timed drawing one image. On log axes the slope k of a line says how "
               "the time grows (time ~ pixels^k): near 0, one pass whatever the size; near 1 or "
               "more, a pass per pixel, each pass costlier as the image grows. At small sizes "
               "on a CPU a pass's fixed overhead keeps k below its asymptote.")
    st.plotly_chart(speed_data.scaling_figure(scaling, result.get("growth", [])),
                    key="bench-scaling")
    for row in scaling[scaling["note"] != ""].to_dict("records"):
        st.caption(f"{row['model']} at {row['image size']}: {row['note']}")
    st.dataframe(scaling, hide_index=True, column_config={
        "sample ms/image": st.column_config.NumberColumn(format="%.4g")})
    widgets.csv_download(scaling, speed_data.csv_name("sizes", result["file"]), key="scaling-csv")


def runs_section():
    """What each training run recorded when it finished, one dataset at a time."""
    st.header("Recorded by each training run", divider="gray")
    st.caption("Every run records these when it finishes: training examples/s over its whole "
               "training and sampling ms/image at batch 1 and 64 on the device it trained on. "
               "Runs train at different times, with their own configs, on a machine that may be "
               "busy: the benchmark is the fairer comparison. Peak memory is measured by the "
               "benchmark only (on CUDA).")
    datasets = speed_data.speed_datasets(reg, records)
    if not datasets:
        widgets.no_runs_yet("completed runs with speed numbers")
        return
    dataset_name = st.selectbox("Dataset", datasets, key="runs-dataset",
                                index=data.default_index(datasets, "digits"),
                                format_func=data.dataset_label)
    table = speed_data.runs_frame(reg, records, dataset_name)
    st.dataframe(table, hide_index=True, column_config=speed_data.column_config())
    widgets.csv_download(table, speed_data.csv_name("runs", dataset_name), key="runs-csv")
    untimed = table.loc[table[speed_data.TRAIN[1]].isna(), "model"].tolist()
    if untimed:
        st.caption(f"No training examples/s for {', '.join(untimed)}: fitted in closed form, "
                   "no training steps to time.")
    if table[[speed_data.SAMPLE_B1[1], speed_data.SAMPLE_B64[1]]].notna().any().any():
        st.plotly_chart(speed_data.sampling_figure(table, f"Sampling time of the newest run of "
                                                          f"each model on {dataset_name}"),
                        key="runs-sampling")


if readable:
    bench_section()
    runs_section()
else:  # the runs' numbers first; the benchmark section then says what it would add
    runs_section()
    bench_section()
