package dev.baomi.spring;

import dev.baomi.client.BaomiClient;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * A {@link BaomiClient} from {@code baomi.*}, a {@link FieldEncryptor}, and, where MyBatis is
 * on the class path, the interceptor that encrypts annotated fields (MyBatis's Spring Boot
 * starter registers every interceptor bean).
 */
@AutoConfiguration
@EnableConfigurationProperties(BaomiProperties.class)
@ConditionalOnProperty(prefix = "baomi", name = "url")
public class BaomiAutoConfiguration {
  /** The client, from {@code baomi.url}, {@code baomi.api-key} and the rest. */
  @Bean
  @ConditionalOnMissingBean
  public BaomiClient baomiClient(BaomiProperties properties) {
    BaomiClient.Builder builder =
        BaomiClient.builder(properties.getUrl())
            .timeout(properties.getTimeout())
            .retries(properties.getRetries(), java.time.Duration.ofMillis(200), properties.getMaxRetryWait());
    if (properties.getApiKey() != null && !properties.getApiKey().isEmpty()) {
      builder.apiKey(properties.getApiKey());
    }
    if (properties.getOperator() != null) {
      builder.operator(properties.getOperator());
    }
    return builder.build();
  }

  /** Seals and opens entities' {@link Encrypted} fields. */
  @Bean
  @ConditionalOnMissingBean
  public FieldEncryptor baomiFieldEncryptor(BaomiClient client, BaomiProperties properties) {
    return new FieldEncryptor(client, properties.getPersistence());
  }

  /** MyBatis's part. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "org.apache.ibatis.plugin.Interceptor")
  static class MyBatis {
    @Bean
    @ConditionalOnMissingBean
    BaomiMybatisInterceptor baomiMybatisInterceptor(FieldEncryptor encryptor) {
      return new BaomiMybatisInterceptor(encryptor);
    }
  }
}
