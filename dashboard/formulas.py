"""The lecture's formulas as LaTeX, written once, for every page that shows one.

Lecture 2 gives the AR(p) model, the chain rule, the latent-variable likelihood and its
posterior, the ELBO (its derivation and the bound), the reparameterization trick, the Gaussian
KL, the VQ-VAE loss and the GAN's minimax game; each is here in the lecture's notation, and the
pages (Lecture mode, the Overview, Likelihood, Completion, Time series, the Latent explorer) draw
them from here. Where a page writes a formula another way, it has a name of its own that says
how (``ELBO_BOUND``, ``GAUSSIAN_KL_AS_CODED``), never the same name for two texts.
"""

from __future__ import annotations

P_MODEL = r"p_{\text{model}}(x) \approx p_{\text{data}}(x)"
CHAIN_RULE = r"p(x) = \prod_{i=1}^{n} p(x_i \mid x_1, \dots, x_{i-1})"
AR_FORMULA = (r"X_t = c + \phi_1 X_{t-1} + \phi_2 X_{t-2} + \dots + \phi_p X_{t-p} + \epsilon_t,"
              r"\qquad \epsilon_t \sim \mathcal{N}(0, \sigma^2)")
BITS_PER_DIM = r"\text{bits/dim} = \frac{-\log_2 p(x)}{D}, \qquad D = C \cdot H \cdot W"
LATENT_LIKELIHOOD = r"p_\theta(x) = \int p_\theta(z) \, p_\theta(x \mid z) \, dz"
POSTERIOR = r"p_\theta(z \mid x) = p_\theta(x \mid z) \, p_\theta(z) / p_\theta(x)"
PRIOR_MONTE_CARLO = (r"\log p(x) \approx \log \frac{1}{k} \sum_{i=1}^{k} p(x \mid z^{(i)}), "
                     r"\quad \text{where } z^{(i)} \sim p(z)")
ELBO_DERIVATION = (
    r"\begin{aligned}"
    r"\log p_\theta(x^{(i)}) &= \mathbb{E}_{z \sim q_\phi(z \mid x^{(i)})}"
    r"\left[\log p_\theta(x^{(i)})\right] \\"
    r"&= \mathbb{E}_z\left[\log \frac{p_\theta(x^{(i)} \mid z) \, p_\theta(z)}"
    r"{p_\theta(z \mid x^{(i)})}\right] \\"
    r"&= \mathbb{E}_z\left[\log \frac{p_\theta(x^{(i)} \mid z) \, p_\theta(z)}"
    r"{p_\theta(z \mid x^{(i)})} \frac{q_\phi(z \mid x^{(i)})}{q_\phi(z \mid x^{(i)})}\right] \\"
    r"&= \mathbb{E}_z\left[\log p_\theta(x^{(i)} \mid z)\right]"
    r" - \mathbb{E}_z\left[\log \frac{q_\phi(z \mid x^{(i)})}{p_\theta(z)}\right]"
    r" + \mathbb{E}_z\left[\log \frac{q_\phi(z \mid x^{(i)})}{p_\theta(z \mid x^{(i)})}\right] \\"
    r"&= \underbrace{\mathbb{E}_z\left[\log p_\theta(x^{(i)} \mid z)\right]"
    r" - D_{KL}(q_\phi(z \mid x^{(i)}) \,\|\, p_\theta(z))}_{\mathcal{L}(x^{(i)}, \theta, \phi)}"
    r" + \underbrace{D_{KL}(q_\phi(z \mid x^{(i)}) \,\|\, p_\theta(z \mid x^{(i)}))}_{\geq 0}"
    r"\end{aligned}")
ELBO = (r"\mathcal{L}(x^{(i)}, \theta, \phi) = \mathbb{E}_z\left[\log p_\theta(x^{(i)} \mid z)"
        r"\right] - D_{KL}(q_\phi(z \mid x^{(i)}) \,\|\, p_\theta(z))")
REPARAMETERIZATION = (r"z = \mu_{z|x} + \epsilon \odot \sigma_{z|x}, \qquad "
                      r"\epsilon \sim \mathcal{N}(0, I)")
GAUSSIAN_KL = (r"D_{KL}(\mathcal{N}(\mu_{z|x}, \Sigma_{z|x}) \,\|\, \mathcal{N}(0, I)) = "
               r"\frac{1}{2} \sum_{j=1}^{J} \left(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1"
               r"\right), \qquad \Sigma_{z|x} = \operatorname{diag}(\sigma_1^2, \dots, \sigma_J^2)")
# The ELBO as the bound it is, log p(x) >= ..., as the Latent explorer writes it.
ELBO_BOUND = (r"\log p_\theta(x) \;\ge\; \mathbb{E}_{q_\phi(z \mid x)}"
              r"\big[\log p_\theta(x \mid z)\big]"
              r" - D_{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)")
# The same Gaussian KL summed per latent dimension, as the VAE code computes it.
GAUSSIAN_KL_AS_CODED = (r"D_{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, 1)\big) = "
                        r"-\tfrac{1}{2} \textstyle\sum_j \big(1 + \log \sigma_j^2 - \mu_j^2"
                        r" - \sigma_j^2\big)")
# The importance-weighted bound (Burda et al. 2016), which --iwae K reports.
IWAE = (r"\log p(x) \;\ge\; \mathbb{E}\Big[\log \frac{1}{K} \sum_{k=1}^{K} "
        r"\frac{p(x, z_k)}{q(z_k \mid x)}\Big]")
# van den Oord et al. 2017, eq. 3.
VQ_LOSS = (r"L = \log p(x \mid z_q(x)) + \big\| \mathrm{sg}[z_e(x)] - e \big\|_2^2 "
           r"+ \beta \big\| z_e(x) - \mathrm{sg}[e] \big\|_2^2")
GAN_MINIMAX = (r"\min_G \max_D \; \mathbb{E}_{x \sim p_{\text{data}}}\left[\log D(x)\right] + "
               r"\mathbb{E}_{z \sim p(z)}\left[\log\left(1 - D(G(z))\right)\right]")
GAN_LOSSES = (r"L_D = -\log D(x) - \log\left(1 - D(G(z))\right), \qquad "
              r"L_G = -\log D(G(z))")
# The warm-up's own estimators (standard forms; the lecture shows their pictures only).
KMEANS_OBJECTIVE = (r"\min_{\mu_1, \dots, \mu_k} \sum_{i=1}^{N} \min_{j} "
                    r"\left\| x^{(i)} - \mu_j \right\|^2")
PCA_RECONSTRUCTION = (r"\hat{x} = \bar{x} + W_k W_k^\top (x - \bar{x}), \qquad "
                      r"W_k \in \mathbb{R}^{D \times k}")
KDE_FORMULA = (r"\hat{p}_h(x) = \frac{1}{N h} \sum_{i=1}^{N} "
               r"K\!\left(\frac{x - x^{(i)}}{h}\right)")
KDE_2D_FORMULA = (r"\hat{p}_h(x) = \frac{1}{N h^2} \sum_{i=1}^{N} "
                  r"K\!\left(\frac{x - x^{(i)}}{h}\right)")
GMM_FORMULA = r"p(x) = \sum_{m=1}^{M} \pi_m \, \mathcal{N}(x \mid \mu_m, \Sigma_m)"

# Every formula the lecture gives (or names, for VQ-VAE and GAN), by what it is.
LECTURE_FORMULAS = {
    "generative model": P_MODEL, "AR(p)": AR_FORMULA, "chain rule": CHAIN_RULE,
    "bits/dim": BITS_PER_DIM, "latent-variable likelihood": LATENT_LIKELIHOOD,
    "posterior": POSTERIOR, "Monte Carlo estimate": PRIOR_MONTE_CARLO,
    "ELBO derivation": ELBO_DERIVATION, "ELBO": ELBO, "reparameterization": REPARAMETERIZATION,
    "Gaussian KL": GAUSSIAN_KL, "VQ-VAE loss": VQ_LOSS, "GAN minimax": GAN_MINIMAX,
}

# -- beyond this lecture: the course's next chapters (flows, diffusion) --------------------------
CHANGE_OF_VARIABLES = (r"z = f(x), \qquad \log p_X(x) = \log p_Z\big(f(x)\big) + "
                       r"\log \left| \det \frac{\partial f(x)}{\partial x} \right|")
DEQUANTIZATION_BOUND = (r"\log P(x) \;\ge\; \mathbb{E}_{u \sim q(u \mid x)}\left[\log "
                        r"p\left(\frac{x + u}{L}\right) - \log q(u \mid x)\right] - D \log L, "
                        r"\qquad u \in [0, 1)^D")
DIFFUSION_FORWARD = (r"q(x_t \mid x_0) = \mathcal{N}\!\left(x_t;\; \sqrt{\bar\alpha_t}\, x_0,\; "
                     r"(1 - \bar\alpha_t)\, I\right), \qquad \bar\alpha_t = "
                     r"\prod_{s=1}^{t} (1 - \beta_s)")
DIFFUSION_ELBO = (r"-\log p_\theta(x_0) \;\le\; \underbrace{D_{KL}\big(q(x_T \mid x_0) \,\|\, "
                  r"p(x_T)\big)}_{L_T} + \sum_{t=2}^{T} \underbrace{D_{KL}\big(q(x_{t-1} \mid "
                  r"x_t, x_0) \,\|\, p_\theta(x_{t-1} \mid x_t)\big)}_{L_{t-1}} "
                  r"\underbrace{- \log p_\theta(x_0 \mid x_1)}_{L_0}")
L_SIMPLE = (r"L_{\text{simple}} = \mathbb{E}_{t, x_0, \epsilon}\left[\big\| \epsilon - "
            r"\epsilon_\theta\big(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, "
            r"\epsilon,\; t\big) \big\|^2\right]")
DDIM_STEP = (r"x_{t-1} = \sqrt{\bar\alpha_{t-1}}\; \hat x_0 + \sqrt{1 - \bar\alpha_{t-1} - "
             r"\sigma_t^2}\; \epsilon_\theta(x_t, t) + \sigma_t z, \qquad \hat x_0 = "
             r"\frac{x_t - \sqrt{1 - \bar\alpha_t}\, \epsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}}")

# The course's next chapters, beyond the lecture's own formulas.
BEYOND_FORMULAS = {
    "change of variables": CHANGE_OF_VARIABLES, "dequantization bound": DEQUANTIZATION_BOUND,
    "diffusion forward process": DIFFUSION_FORWARD, "diffusion ELBO": DIFFUSION_ELBO,
    "L_simple": L_SIMPLE, "DDIM step": DDIM_STEP,
}

# Disentanglement (issue 23): the beta-VAE objective and the mutual information gap
BETA_VAE = (r"\mathcal{L}_\beta(x) = \mathbb{E}_{q_\phi(z \mid x)}"
            r"\left[\log p_\theta(x \mid z)\right] - \beta\, "
            r"D_{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big), \qquad \beta > 0")
MIG_FORMULA = (r"\mathrm{MIG} = \frac{1}{K} \sum_{k=1}^{K} \frac{1}{H(v_k)} \Big( "
               r"I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k) \Big), \qquad "
               r"j^{(k)} = \arg\max_j I(z_j; v_k)")
