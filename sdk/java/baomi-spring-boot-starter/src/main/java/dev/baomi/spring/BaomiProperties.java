package dev.baomi.spring;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code baomi.*} in {@code application.yml}: where Baomi is, the key to call it with, and
 * how entities' {@link Encrypted} fields are read.
 */
@ConfigurationProperties("baomi")
public class BaomiProperties {
  /** The server's base URL ({@code https://baomi.internal:8443}). */
  private String url;
  /** The service key ({@code bm_<id>_<secret>}); keep it out of the file (an environment variable). */
  private String apiKey;
  /** The staff member calls act for when the code does not say ({@code X-Baomi-Operator}). */
  private String operator;
  /** Each attempt's timeout. */
  private Duration timeout = Duration.ofSeconds(30);
  /** How often an idempotent call is sent again after a 503 or a 429. */
  private int retries = 3;
  /** The longest {@code Retry-After} waited for. */
  private Duration maxRetryWait = Duration.ofSeconds(30);
  /** How entities' encrypted fields are read. */
  private final Persistence persistence = new Persistence();

  /** How entities' encrypted fields are read. */
  public static class Persistence {
    /** The purpose reads are made under (one the key holds). */
    private String purpose;
    /** {@code masked} (the default) or {@code plain} (which the key's grant must name). */
    private String view = "masked";

    public String getPurpose() {
      return purpose;
    }

    public void setPurpose(String purpose) {
      this.purpose = purpose;
    }

    public String getView() {
      return view;
    }

    public void setView(String view) {
      this.view = view;
    }
  }

  public String getUrl() {
    return url;
  }

  public void setUrl(String url) {
    this.url = url;
  }

  public String getApiKey() {
    return apiKey;
  }

  public void setApiKey(String apiKey) {
    this.apiKey = apiKey;
  }

  public String getOperator() {
    return operator;
  }

  public void setOperator(String operator) {
    this.operator = operator;
  }

  public Duration getTimeout() {
    return timeout;
  }

  public void setTimeout(Duration timeout) {
    this.timeout = timeout;
  }

  public int getRetries() {
    return retries;
  }

  public void setRetries(int retries) {
    this.retries = retries;
  }

  public Duration getMaxRetryWait() {
    return maxRetryWait;
  }

  public void setMaxRetryWait(Duration maxRetryWait) {
    this.maxRetryWait = maxRetryWait;
  }

  public Persistence getPersistence() {
    return persistence;
  }
}
